#!/usr/bin/env bash
# Installing the app's dependencies with pip, into the copied Python's own site-packages.

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
		dir="$(dirname "${current}")"
		while IFS= read -r line || [[ -n "${line}" ]]; do
			if [[ "${line}" =~ ^[[:space:]]*(-r|--requirement|-c|--constraint)[[:space:]=]+([^[:space:]]+) ]]; then
				ref="${BASH_REMATCH[2]}"
				[[ "${ref}" == /* ]] || ref="${dir}/${ref}"
				queue+=("${ref}")
			fi
		done <"${current}"
	done
}

# sha256 over the requirement files (names and contents).
function pip::dependencies_sha256() {
	local file="${1}"
	local f
	while IFS= read -r f; do
		echo "${f}"
		sha256sum <"${f}"
	done < <(pip::requirement_files "${file}") | sha256sum | cut -d' ' -f1
}

# Succeeds when the requirements install something from the app's own tree (editable or path
# requirements): those must be reinstalled on every build, since their code may have changed.
function pip::has_local_requirements() {
	local file="${1}"
	local f
	while IFS= read -r f; do
		if grep -Eq '^[[:space:]]*(-e|--editable)[[:space:]=]|^[[:space:]]*(\.|/|file:)' "${f}"; then
			return 0
		fi
	done < <(pip::requirement_files "${file}")
	return 1
}

# The pip version installed in the copied Python.
function pip::version() {
	local python_home="${1}"
	"${python_home}/bin/python" -m pip --version 2>/dev/null | cut -d' ' -f2
}

# Runs pip install -r <file> with the app's index settings; fails the build with advice.
function pip::install_requirements() {
	local python_home="${1}" requirements="${2}" pip_cache_dir="${3}"
	local display="${requirements}"
	output::step "Installing dependencies using 'pip install -r ${display}'"
	local -a args=(
		install -r "${requirements}"
		--exists-action=w
		--no-input
		--progress-bar off
		--src="${python_home}/src"
		--cache-dir="${pip_cache_dir}"
	)
	if ! pip::_run "${python_home}" "${args[@]}"; then
		pip::_fail_install "pip"
	fi
}

# pip with the app's PIP_INDEX_URL / PIP_FIND_LINKS / ... config vars, output indented and with
# the noisy install location removed.
function pip::_run() {
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

function pip::_fail_install() {
	local manager="${1}"
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
	utils::fail <<-EOF
		Error: Unable to install dependencies using ${manager}.

		See the log output above for more information.

		${index_hint}
	EOF
}
