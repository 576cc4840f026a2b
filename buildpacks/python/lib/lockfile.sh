#!/usr/bin/env bash
# Pipenv, Poetry and uv lockfiles as hashed requirements for pip.

# Writes the requirements for <package-manager>'s lockfile to <output>.
function lockfile::to_requirements() {
	local package_manager="${1}" output="${2}"
	local lockfile
	lockfile="$(dependencies::file "${package_manager}")"
	utils::fail <<-EOF
		Error: Installing from ${lockfile} isn't supported yet.

		This build server's Python buildpack installs dependencies
		from 'requirements.txt' only, for now. Export the lockfile to
		a requirements file and commit that instead of '${lockfile}':

		   $ uv export --no-dev -o requirements.txt      (uv)
		   $ poetry export -o requirements.txt           (Poetry)
		   $ pipenv requirements > requirements.txt      (Pipenv)

		(wanted: ${output})
	EOF
}
