#!/usr/bin/env bash
# shellcheck disable=SC2153 # BUILD_DIR, CACHE_DIR and ENV_DIR are globals set by bin/compile
# pip: requirements.txt, installed with pip into the copied Python's own site-packages.
#
# pip installs the other package managers' lockfile exports too (lockfile.sh), so pip::run,
# pip::fail_install and pip::rewrite_editable_paths serve them as well.

function pip::file() {
	echo "requirements.txt"
}

# requirements.txt is what pip reads: there is nothing to export.
function pip::prepare() {
	return 0
}

# sha256 over requirements.txt and the files it includes (names and contents).
function pip::dependencies_sha256() {
	local f
	while IFS= read -r f; do
		echo "${f}"
		sha256sum <"${f}"
	done < <(pip::requirement_files requirements.txt) | sha256sum | cut -d' ' -f1
}

# Installs requirements.txt, unless the restored cache holds exactly its packages and none of
# them comes from the app's own files.
# (<work-dir>, the first argument, isn't used: pip reads requirements.txt where it is.)
function pip::install_dependencies() {
	local cache_reused="${2}"
	if ((cache_reused)); then
		if pip::has_local_requirements requirements.txt; then
			output::step "Reinstalling dependencies: requirements.txt installs from the app's own files, which may have changed"
		else
			output::step "Skipping the dependency install: the cached packages match requirements.txt"
			return 0
		fi
	fi
	output::step "Installing dependencies using 'pip install -r requirements.txt'"
	local -a args=(
		install -r requirements.txt
		--exists-action=w
		--no-input
		--progress-bar off
		--src="${PYTHON_HOME}/src"
		--cache-dir="${CACHE_DIR}/.heroku/pip-cache"
	)
	if ! pip::run "${PYTHON_HOME}" "${args[@]}"; then
		pip::fail_install pip install-dependencies::pip
	fi
	pip::rewrite_editable_paths "${BUILD_DIR}"
}

# The files whose bytes decide what pip installs: requirements.txt and, recursively, the files
# it includes with -r / -c (relative to the including file). Prints paths relative to cwd.
function pip::requirement_files() {
	local file="${1}"
	local -A seen=()
	local -a queue=("${file}")
	local current line ref dir
	while ((${#queue[@]} > 0)); do
		current="${queue[0]}"
		queue=("${queue[@]:1}")
		[[ -f "${current}" && -z "${seen[${current}]:-}" ]] || continue
		seen[${current}]=1
		echo "${current}"
		# dirname's answer, without the process.
		dir=.
		[[ "${current}" != */* ]] || dir="${current%/*}"
		[[ -n "${dir}" ]] || dir=/
		while IFS= read -r line || [[ -n "${line}" ]]; do
			if [[ "${line}" =~ ^[[:space:]]*(-r|--requirement|-c|--constraint)[[:space:]=]+([^[:space:]]+) ]]; then
				ref="${BASH_REMATCH[2]}"
				[[ "${ref}" == /* ]] || ref="${dir}/${ref}"
				queue+=("${ref}")
			fi
		done <"${current}"
	done
}

# Succeeds when the requirements install something from the app's own tree (editable or path
# requirements): those must be reinstalled on every build, since their code may have changed.
function pip::has_local_requirements() {
	local file="${1}"
	local f line
	local local_requirement='^[[:space:]]*(-e|--editable)[[:space:]=]|^[[:space:]]*(\.|/|file:)'
	while IFS= read -r f; do
		while IFS= read -r line || [[ -n "${line}" ]]; do
			[[ ! "${line}" =~ ${local_requirement} ]] || return 0
		done <"${f}"
	done < <(pip::requirement_files "${file}")
	return 1
}

# pip with the app's PIP_INDEX_URL / PIP_FIND_LINKS / ... config vars, output indented and with
# the noisy install location removed.
function pip::run() {
	local python_home="${1}"
	shift
	(
		utils::export_pip_config "${ENV_DIR}"
		export PIP_DISABLE_PIP_VERSION_CHECK=1
		"${python_home}/bin/python" -m pip "$@" |&
			sed --unbuffered -E "s# in (/app|\.)/\.heroku/python/lib/python3/dist-packages##" |
			output::indent
		exit "${PIPESTATUS[0]}"
	)
}

# Fails the build after a pip install that failed: <manager> for the message, and the
# <failure-reason>.
function pip::fail_install() {
	local manager="${1}" failure_reason="${2}"
	local index_hint
	if [[ -f "${ENV_DIR}/PIP_NO_INDEX" || -f "${ENV_DIR}/PIP_FIND_LINKS" || -f "${ENV_DIR}/PIP_INDEX_URL" ]]; then
		index_hint="The build used the package index settings from your config vars
(PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX,
PIP_TRUSTED_HOST). Check that they point at an index or folder
that has every package, and the versions, your app requires."
	else
		index_hint="If your packages come from a private index or a folder of
wheels, set config vars such as PIP_INDEX_URL or PIP_FIND_LINKS
(and PIP_NO_INDEX=1 to use only that folder)."
	fi
	utils::fail "${failure_reason}" <<-EOF
		Error: Unable to install dependencies using ${manager}.

		See the log output above for more information.

		${index_hint}
	EOF
}

# Editable installs record the build dir's path; at runtime the app lives at /app.
function pip::rewrite_editable_paths() {
	local build_dir="${1}"
	[[ "$(realpath "${build_dir}")" == "$(realpath /app 2>/dev/null || echo /app)" ]] && return 0
	find "${build_dir}/.heroku/python/lib/python3/dist-packages/" -type f \
		\( -name '*.egg-link' -o -name '*.pth' -o -name '__editable___*_finder.py' \) \
		-exec sed -i "s#${build_dir}/.heroku/python#/app/.heroku/python#g" {} +
}
