#!/usr/bin/env bash
# Poetry: poetry.lock's main group (not other groups or extras), exported by poetry_export.py
# beside this file as `poetry export --only main` would and installed with pip (lockfile.sh).
# Poetry 1.x locks, which don't record groups, are walked from pyproject.toml's main dependencies.
# Poetry itself isn't installed.

function poetry::file() {
	echo "poetry.lock"
}

function poetry::display_name() {
	echo "Poetry"
}

function poetry::lock_command() {
	echo "poetry lock"
}

# Which of the lockfile's dependencies get installed, for messages.
function poetry::selection() {
	echo "the main group, without other groups or extras"
}

function poetry::prepare() {
	lockfile::export poetry "${1}"
}

function poetry::dependencies_sha256() {
	lockfile::dependencies_sha256 poetry "${1}"
}

function poetry::install_dependencies() {
	lockfile::install poetry "${1}" "${2}"
}
