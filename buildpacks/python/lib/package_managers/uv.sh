#!/usr/bin/env bash
# uv: uv.lock's project dependencies (not the project itself, its dev groups or extras), exported
# by uv_export.py beside this file as `uv export --no-dev` would and installed with pip
# (lockfile.sh). A pyproject.toml changed since it was locked is refused, as `uv sync --locked`
# does. uv itself isn't installed. (uv apps must name their Python in .python-version:
# lib/python_version.sh.)

function uv::file() {
	echo "uv.lock"
}

function uv::display_name() {
	echo "uv"
}

function uv::lock_command() {
	echo "uv lock"
}

# Which of the lockfile's dependencies get installed, for messages.
function uv::selection() {
	echo "the project's dependencies, without dev groups or extras"
}

function uv::prepare() {
	lockfile::export uv "${1}"
}

function uv::dependencies_sha256() {
	lockfile::dependencies_sha256 uv "${1}"
}

function uv::install_dependencies() {
	lockfile::install uv "${1}" "${2}"
}
