#!/usr/bin/env bash
# The installed environment, kept in CACHE_DIR between builds.
#
#   CACHE_DIR/.heroku/python/            copy of BUILD_DIR/.heroku/python (interpreter + packages)
#   CACHE_DIR/.heroku/python-cache-key   what that copy was built from (see cache::key)
#   CACHE_DIR/.heroku/python-version     "python-X.Y.Z" of the last build (sticky major version)
#   CACHE_DIR/.heroku/pip-cache/         pip's HTTP and wheel cache (PIP_CACHE_DIR)
#   CACHE_DIR/.heroku/python-runtimes/   the last runtime archive downloaded (lib/runtime_archive.sh)
#
# Restoring copies (never moves) the environment, and saving replaces it only at the end of a
# successful compile, so a failed build leaves the previous cache as it was. Copies are hard links
# when CACHE_DIR and the build dir share a filesystem and a mount; pip and Python replace files
# rather than rewrite them, so the two trees never change each other. Otherwise (slugforge mounts
# CACHE_DIR into the build container) they are real copies.

# The mtime given to everything a build installs into the environment: 1980-01-01, as in wheels.
# shellcheck disable=SC2034 # used by bin/compile
CACHE_FIXED_MTIME=315532800

# Gives the files this build made under <dir> (newer than <marker>) the fixed mtime, so the same
# packages are the same bytes in every build's tar: the slug writer then copies their compressed
# blocks from the last slug instead of compressing them again. The interpreter's own standard
# library keeps Debian's mtimes. Byte-code stays valid: with SOURCE_DATE_EPOCH set (bin/compile)
# Python writes hash-checked .pyc files, which do not depend on mtimes.
function cache::fix_mtimes() {
	local dir="${1}" marker="${2}"
	[[ -d "${dir}" ]] || return 0
	find "${dir}" -newer "${marker}" -exec touch -h -d "@${CACHE_FIXED_MTIME}" {} +
}

# Prints the cache key: one "name=value" line per input that decides the installed packages.
function cache::key() {
	local stack="${1}" python_version="${2}" package_manager="${3}" pip_version="${4}" deps_sha="${5}"
	local python_runtime="${6:-}"
	echo "stack=${stack}"
	echo "python=${python_version}"
	# Only for runtime archives, so that caches made from the stack's interpreter stay valid.
	[[ -z "${python_runtime}" ]] || echo "python-runtime=${python_runtime}"
	echo "package-manager=${package_manager}"
	echo "pip=${pip_version}"
	echo "dependencies-sha256=${deps_sha}"
	utils::pip_config_summary
}

function cache::_value() {
	local key_text="${1}" name="${2}"
	local line
	while IFS= read -r line; do
		if [[ "${line}" == "${name}="* ]]; then
			echo "${line#*=}"
			return 0
		fi
	done <<<"${key_text}"
	echo "unknown"
}

# Prints, one per line, why the cached environment can't be used for the new key.
function cache::invalidation_reasons() {
	local old="${1}" new="${2}" deps_file="${3}"
	local name old_value new_value
	if [[ -z "${old}" ]]; then
		echo "The buildpack cache format has changed"
		return 0
	fi
	for name in stack python python-runtime package-manager pip; do
		old_value="$(cache::_value "${old}" "${name}")"
		new_value="$(cache::_value "${new}" "${name}")"
		if [[ "${old_value}" != "${new_value}" ]]; then
			case "${name}" in
				stack) echo "The stack has changed from ${old_value} to ${new_value}" ;;
				python) echo "The Python version has changed from ${old_value} to ${new_value}" ;;
				python-runtime)
					# Only worth saying when the version stayed the same (the line above covers the rest).
					if [[ "$(cache::_value "${old}" python)" == "$(cache::_value "${new}" python)" ]]; then
						echo "The Python interpreter has changed (from ${old_value:0:28}... to ${new_value:0:28}...)"
					fi
					;;
				package-manager) echo "The package manager has changed from ${old_value} to ${new_value}" ;;
				pip) echo "The pip version has changed from ${old_value} to ${new_value}" ;;
				*) ;;
			esac
		fi
	done
	if [[ "$(cache::_value "${old}" dependencies-sha256)" != "$(cache::_value "${new}" dependencies-sha256)" ]]; then
		echo "The contents of ${deps_file} changed"
	fi
	if [[ "$(grep '^PIP_' <<<"${old}")" != "$(grep '^PIP_' <<<"${new}")" ]]; then
		echo "The package index config vars (PIP_INDEX_URL, PIP_FIND_LINKS, ...) changed"
	fi
}

# Decides whether to reuse the cached environment; restores it when so. Sets CACHE_REUSED=1|0.
function cache::restore() {
	local cache_dir="${1}" build_dir="${2}" new_key="${3}" deps_file="${4}"
	local old_key="" reasons
	CACHE_REUSED=0
	if [[ ! -d "${cache_dir}/.heroku/python" ]]; then
		return 0
	fi
	[[ ! -f "${cache_dir}/.heroku/python-cache-key" || ! -r "${cache_dir}/.heroku/python-cache-key" ]] || old_key="$(<"${cache_dir}/.heroku/python-cache-key")"
	if [[ "${old_key}" == "${new_key}" && -x "${cache_dir}/.heroku/python/bin/python" ]]; then
		output::step "Restoring cache"
		local deps_sha="${new_key#*$'\n'dependencies-sha256=}"
		[[ "${deps_sha}" != "${new_key}" ]] || deps_sha=unknown
		output::info "- Nothing that decides the installed packages changed (${deps_file} sha256 ${deps_sha:0:12})"
		cache::_copy "${cache_dir}/.heroku/python" "${build_dir}/.heroku/python"
		# shellcheck disable=SC2034 # read by bin/compile
		CACHE_REUSED=1
		return 0
	fi
	reasons="$(cache::invalidation_reasons "${old_key}" "${new_key}" "${deps_file}")"
	output::step "Discarding cache since:"
	while IFS= read -r line; do
		output::info "- ${line}"
	done <<<"${reasons}"
	if [[ -d "${cache_dir}/.heroku/pip-cache" ]]; then
		output::info "(pip's download and wheel cache is kept, so unchanged packages install from it)"
	fi
}

# Copies a tree, as hard links where possible.
function cache::_copy() {
	local from="${1}" to="${2}"
	if cache::_can_link "${from}" "${to%/*}" && cp -al "${from}" "${to}" 2>/dev/null; then
		return 0
	fi
	rm -rf "${to}"
	cp -a "${from}" "${to}"
}

# Whether a file of <tree> can be hard-linked into <dir>: it takes one filesystem *and* one mount,
# and CACHE_DIR is often a mount of its own. Asking once is much cheaper than a cp -al that fails
# on every file.
function cache::_can_link() {
	local tree="${1}" dir="${2}" file probe
	# The interpreter's copy is such a file, found without a process; any other file will do.
	for file in "${tree}"/bin/python3.*; do
		[[ -f "${file}" && ! -L "${file}" ]] && break
		file=""
	done
	[[ -n "${file}" ]] || file="$(find "${tree}" -type f -print -quit 2>/dev/null)"
	[[ -n "${file}" ]] || return 1
	probe="${dir}/.slugforge-link-probe.$$"
	if ln "${file}" "${probe}" 2>/dev/null; then
		rm -f "${probe}"
		return 0
	fi
	return 1
}

# Replaces the cached environment with this build's. Called only when the build has succeeded.
# When the build reused the cache, the cached copy already holds the same packages.
function cache::save() {
	local cache_dir="${1}" build_dir="${2}" key="${3}" python_version="${4}" reused="${5}"
	[[ -d "${cache_dir}/.heroku" ]] || mkdir -p "${cache_dir}/.heroku"
	if ((reused)) && [[ -d "${cache_dir}/.heroku/python" ]]; then
		output::step "Keeping the cache (the installed packages didn't change)"
	else
		output::step "Saving cache"
		rm -rf "${cache_dir}/.heroku/python.new" "${cache_dir}/.heroku/python.old"
		cache::_copy "${build_dir}/.heroku/python" "${cache_dir}/.heroku/python.new"
		if [[ -d "${cache_dir}/.heroku/python" ]]; then
			mv "${cache_dir}/.heroku/python" "${cache_dir}/.heroku/python.old"
		fi
		mv "${cache_dir}/.heroku/python.new" "${cache_dir}/.heroku/python"
		rm -rf "${cache_dir}/.heroku/python.old"
	fi
	echo "${key}" >"${cache_dir}/.heroku/python-cache-key"
	echo "python-${python_version}" >"${cache_dir}/.heroku/python-version"
}
