#!/usr/bin/env bash
# Checks that stop a build early, each with what to do about it.

SUPPORTED_STACKS=(debian-13)

function checks::stack() {
	local stack="${1:-}"
	local supported
	if [[ -z "${stack}" ]]; then
		utils::fail checks::stack::unset <<-EOF
			Error: The STACK environment variable isn't set.

			The build server must tell the buildpack which stack it builds
			for. This is a problem with the build server, not your app.
		EOF
	fi
	for supported in "${SUPPORTED_STACKS[@]}"; do
		[[ "${stack}" == "${supported}" ]] && return 0
	done
	utils::fail checks::stack::unsupported <<-EOF
		Error: The '${stack}' stack isn't supported by this buildpack.

		The Python buildpack supports these stacks:

		$(printf -- '- %s\n' "${SUPPORTED_STACKS[@]}")

		Move the app to one of them.
	EOF
}

function checks::not_already_run() {
	local build_dir="${1}"
	if [[ -x "${build_dir}/.heroku/python/bin/python" && -n "${PYTHON_BUILDPACK_HOME:-}" ]]; then
		utils::fail checks::duplicate-python-buildpack <<-EOF
			Error: The Python buildpack has already been run this build.

			The app's buildpacks list the Python buildpack more than
			once (in BUILDPACK_URL or '.buildpacks'). Remove the
			duplicate entry, then push again.
		EOF
	fi
}

function checks::no_committed_python() {
	local build_dir="${1}"
	if [[ -e "${build_dir}/.heroku/python" ]]; then
		utils::fail checks::existing-python-dir <<-EOF
			Error: Existing '.heroku/python/' directory found.

			Your app's source code contains a '.heroku/python/' directory:

			$(cd "${build_dir}" && find .heroku/python/ -maxdepth 2 | sort | head -n 20)

			The buildpack installs Python and your dependencies there, so
			it must not be part of your app's source. It was probably
			committed by accident, or made by a bin/pre_compile script.

			Remove it from the repository and ignore it:

			   $ git rm -r --cached .heroku/
			   $ echo ".heroku/" >> .gitignore
			   $ git add .gitignore && git commit -m "Remove .heroku/"
		EOF
	fi
}

function checks::no_committed_venv() {
	local build_dir="${1}"
	local name
	for name in .venv venv; do
		if [[ -f "${build_dir}/${name}/pyvenv.cfg" ]]; then
			utils::fail checks::existing-venv-dir <<-EOF
				Error: Existing '${name}/' directory found.

				Your app's source code contains a virtual environment:

				$(cd "${build_dir}" && find "${name}/" -maxdepth 2 | sort | head -n 20)

				A virtual environment only works on the machine that created
				it, and the buildpack installs your dependencies itself, so
				it must not be committed. Remove it and ignore it:

				   $ git rm -r --cached ${name}/
				   $ echo "${name}/" >> .gitignore
				   $ git add .gitignore && git commit -m "Remove ${name}/"
			EOF
		fi
	done
}
