#!/usr/bin/env bash
# The environment: during the build, at runtime (.profile.d) and for later buildpacks (export).

# Sets up the environment the rest of compile, the hooks and the installs run with.
function environment::setup_build() {
	unset PYTHONHOME PYTHONPATH
	export PATH="${PYTHON_HOME}/bin:${PATH}"
	export PYTHONUNBUFFERED=1
	export LANG="${LANG:-C.UTF-8}"
	export C_INCLUDE_PATH="${PYTHON_HOME}/include${C_INCLUDE_PATH:+:${C_INCLUDE_PATH}}"
	export CPLUS_INCLUDE_PATH="${PYTHON_HOME}/include${CPLUS_INCLUDE_PATH:+:${CPLUS_INCLUDE_PATH}}"
	export LIBRARY_PATH="${PYTHON_HOME}/lib${LIBRARY_PATH:+:${LIBRARY_PATH}}"
	export PKG_CONFIG_PATH="${PYTHON_HOME}/lib/pkg-config${PKG_CONFIG_PATH:+:${PKG_CONFIG_PATH}}"
	export PIP_DISABLE_PIP_VERSION_CHECK=1
}

# When the build dir isn't /app, /app/.heroku/python points at it, so that paths baked into
# scripts and .pth files during the build are the ones that exist at runtime.
function environment::link_app_dir() {
	local build_dir="${1}"
	# The same folder (its device and inode), by whatever path.
	if [[ "${build_dir}" -ef /app ]]; then
		return 0
	fi
	if ! { mkdir -p /app/.heroku && ln -nsf "${build_dir}/.heroku/python" /app/.heroku/python; } 2>/dev/null; then
		utils::fail environment::app-dir-link <<-EOF
			Error: Can't create /app/.heroku/python.

			The build directory is '${build_dir}', not /app, and the
			buildpack couldn't link /app/.heroku/python to it. The slug
			runs from /app, so Python must be installed at that path.

			This is a problem with the build server's setup, not with
			your app. Please report it to the operator of this server.
		EOF
	fi
}

# Writes .profile.d/*.sh (sourced at boot, in the slug) and the buildpack's export file (sourced
# by the build before later buildpacks).
function environment::write_runtime_files() {
	local build_dir="${1}" buildpack_dir="${2}"
	mkdir -p "${build_dir}/.profile.d"

	utils::write_file "${build_dir}/.profile.d/python.sh" <<-'EOF'
		# Written by the Python buildpack: the app's Python first on PATH.
		export PATH="${HOME}/.heroku/python/bin:${PATH}"
		export PYTHONUNBUFFERED=true
		export PYTHONPATH="${PYTHONPATH:-${HOME}}"
		export LANG="${LANG:-C.UTF-8}"
		export PIP_DISABLE_PIP_VERSION_CHECK=1
		# The interpreter finds its standard library from its own location; a PYTHONHOME pointing
		# anywhere else (set in the app's config by mistake) would break it.
		unset PYTHONHOME
		if [[ "${HOME}" != "/app" && -d "${HOME}/.heroku/python" && ! -e /app/.heroku/python ]]; then
			mkdir -p /app/.heroku 2>/dev/null && ln -nsf "${HOME}/.heroku/python" /app/.heroku/python
		fi
	EOF
	cp "${buildpack_dir}/vendor/WEB_CONCURRENCY.sh" "${buildpack_dir}/vendor/python.gunicorn.sh" "${build_dir}/.profile.d/"

	# The export file must be writable: slugforge copies buildpacks into the build container.
	if ! utils::write_file "${buildpack_dir}/export" 2>/dev/null <<-'EOF'; then
		export PATH="/app/.heroku/python/bin:${PATH}"
		export PYTHONUNBUFFERED=1
		export LANG="${LANG:-C.UTF-8}"
		export PYTHONPATH="${PYTHONPATH:-/app}"
		export PIP_DISABLE_PIP_VERSION_CHECK=1
		export LIBRARY_PATH="/app/.heroku/python/lib${LIBRARY_PATH:+:${LIBRARY_PATH}}"
		export C_INCLUDE_PATH="/app/.heroku/python/include${C_INCLUDE_PATH:+:${C_INCLUDE_PATH}}"
		export PYTHON_BUILDPACK_HOME=/app/.heroku/python
	EOF
		output::warning <<-EOF
			Warning: Couldn't write the buildpack's 'export' file.

			'${buildpack_dir}' isn't writable, so buildpacks that run
			after this one won't have the app's Python on their PATH.
		EOF
	fi
}
