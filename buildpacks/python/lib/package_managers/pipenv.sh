#!/usr/bin/env bash
# Pipenv: Pipfile.lock's [packages] (not its [dev-packages]), exported by pipenv_export.py beside
# this file as `pipenv requirements` would and installed with pip (lockfile.sh). A Pipfile changed
# since it was locked is refused, as `pipenv install --deploy` does. Pipenv itself isn't installed.
# (Choosing Pipenv, and refusing a Pipfile without its lock: lib/package_manager.sh; the Python
# version in Pipfile.lock: lib/python_version.sh.)

function pipenv::file() {
	echo "Pipfile.lock"
}

function pipenv::display_name() {
	echo "Pipenv"
}

function pipenv::lock_command() {
	echo "pipenv lock"
}

# Which of the lockfile's dependencies get installed, for messages.
function pipenv::selection() {
	echo "the [packages] of the Pipfile, without [dev-packages]"
}

function pipenv::prepare() {
	lockfile::export pipenv "${1}"
}

function pipenv::dependencies_sha256() {
	lockfile::dependencies_sha256 pipenv "${1}"
}

function pipenv::install_dependencies() {
	lockfile::install pipenv "${1}" "${2}"
}
