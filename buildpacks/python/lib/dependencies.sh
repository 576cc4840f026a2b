#!/usr/bin/env bash
# shellcheck disable=SC2153 # BUILD_DIR, CACHE_DIR and ENV_DIR are globals set by bin/compile
# Dependencies per package manager. Only pip is installed: Pipenv, Poetry and uv lockfiles are
# turned into a hashed requirements file (what `pipenv requirements`, `poetry export` or
# `uv export` would print) that pip installs, so a build works against any index pip can reach.

# The file whose contents decide the dependencies.
function dependencies::file() {
	case "${1}" in
		pip) echo "requirements.txt" ;;
		pipenv) echo "Pipfile.lock" ;;
		poetry) echo "poetry.lock" ;;
		uv) echo "uv.lock" ;;
		*) return 1 ;;
	esac
}

# sha256 of what decides the installed packages: requirements.txt and its includes, or the
# lockfile plus what was exported from it (which also depends on pyproject.toml for old Poetry
# locks, and on the export script's version).
function dependencies::sha256() {
	local package_manager="${1}" export_dir="${2:-}"
	if [[ "${package_manager}" == "pip" ]]; then
		pip::dependencies_sha256 requirements.txt
	else
		{
			sha256sum <"$(dependencies::file "${package_manager}")"
			cat "${export_dir}/requirements.txt" "${export_dir}/local.txt"
		} | sha256sum | cut -d' ' -f1
	fi
}

# Installs the app's dependencies, unless the restored cache already holds exactly them.
# <export-dir>: where lockfile::export wrote a lockfile's requirements (not for pip).
function dependencies::install() {
	local package_manager="${1}" cache_reused="${2}" export_dir="${3:-}"
	local requirements="requirements.txt"
	local pip_cache_dir="${CACHE_DIR}/.heroku/pip-cache"

	if [[ "${package_manager}" != "pip" ]]; then
		lockfile::install "${package_manager}" "${export_dir}" "${pip_cache_dir}" "${cache_reused}"
		dependencies::_rewrite_editable_paths "${BUILD_DIR}"
		return 0
	fi

	if ((cache_reused)); then
		if pip::has_local_requirements requirements.txt; then
			output::step "Reinstalling dependencies: requirements.txt installs from the app's own files, which may have changed"
		else
			output::step "Skipping the dependency install: the cached packages match $(dependencies::file "${package_manager}")"
			return 0
		fi
	fi
	pip::install_requirements "${PYTHON_HOME}" "${requirements}" "${pip_cache_dir}"
	dependencies::_rewrite_editable_paths "${BUILD_DIR}"
}

# Editable installs record the build dir's path; at runtime the app lives at /app.
function dependencies::_rewrite_editable_paths() {
	local build_dir="${1}"
	[[ "$(realpath "${build_dir}")" == "$(realpath /app 2>/dev/null || echo /app)" ]] && return 0
	find "${build_dir}/.heroku/python/lib/python3/dist-packages/" -type f \
		\( -name '*.egg-link' -o -name '*.pth' -o -name '__editable___*_finder.py' \) \
		-exec sed -i "s#${build_dir}/.heroku/python#/app/.heroku/python#g" {} +
}

# Tells the user the app declares no web process, and how to add one.
function dependencies::warn_no_procfile() {
	local build_dir="${1}"
	local default_web
	default_web="$(release::default_web_process "${build_dir}")"
	if [[ -n "${default_web}" ]]; then
		output::warning <<-EOF
			Warning: No Procfile found; using a default web process.

			Your app has no 'Procfile', so it will run the default for a
			Django app with gunicorn installed:

			   web: ${default_web}

			Declare it yourself to be sure of what runs:

			   $ echo "web: ${default_web}" > Procfile
			   $ git add Procfile && git commit -m "Add Procfile"
		EOF
		return 0
	fi
	output::warning <<-EOF
		Warning: Your app has no web process.

		There is no 'Procfile' in the root directory of your app, so
		the release won't start anything to serve HTTP requests.

		Add a Procfile declaring the command that starts your web
		server; it must listen on the port in \$PORT. For example:

		   web: gunicorn myapp.wsgi        (Django, with gunicorn in requirements.txt)
		   web: gunicorn app:app           (Flask)
		   web: python app.py              (your own server)

		   $ git add Procfile && git commit -m "Add Procfile"
	EOF
}
