#!/usr/bin/env bash
# Small helpers shared by the compile steps.

# Config vars that must never leak from the app's config into the buildpack's own processes:
# they would change which interpreter or libraries the build runs with.
ENV_DIR_DENYLIST_REGEX='^(PATH|CPATH|CPPATH|LD_PRELOAD|LIBRARY_PATH|LD_LIBRARY_PATH|PYTHONHOME|PYTHONPATH)$'

# The pip settings an app may give as config vars (private indexes, a mounted wheelhouse, ...).
PIP_CONFIG_VARS=(PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_NO_INDEX PIP_TRUSTED_HOST)

# Where utils::fail writes this build's failure reason (set by bin/compile). A failure may be
# reported in a subshell ($(...), a pipeline), where no variable reaches the main shell, and
# utils::on_exit must know whether one was.
FAILURE_REASON_FILE=""

# Prints the error box read from stdin, ending with the line "Failure reason: <failure-reason>",
# and fails the build. <failure-reason> is a stable code from README.md's "Failure reasons" table:
#
#   utils::fail install-dependencies::pip <<-EOF
#   	Error: Unable to install dependencies using pip.
#   	...
#   EOF
function utils::fail() {
	utils::report_failure "${1:?utils::fail needs a failure reason}"
	exit 1
}

# utils::fail without the exit: prints the box and records <failure-reason>.
function utils::report_failure() {
	local failure_reason="${1}"
	{
		cat
		echo
		echo "Failure reason: ${failure_reason}"
	} | output::error
	if [[ -n "${FAILURE_REASON_FILE}" ]]; then
		echo "${failure_reason}" >"${FAILURE_REASON_FILE}"
	fi
}

# bin/compile's EXIT trap: a build stopped by an error that no utils::fail explained (a command
# that failed under set -e) still ends with an error box and a failure reason. Keeps the exit
# status.
function utils::on_exit() {
	local status=$? command="${BASH_COMMAND}"
	if ((status != 0)) && [[ -n "${FAILURE_REASON_FILE}" && ! -s "${FAILURE_REASON_FILE}" ]]; then
		utils::report_failure internal-error::unhandled <<-EOF
			Internal error: The buildpack stopped unexpectedly.

			This command failed (exit status ${status}):
			${command:0:300}

			This is a problem with the buildpack or the build server, not
			with your app. Please report it to the operator of this build
			server, with this build's output.
		EOF
	fi
	[[ -z "${FAILURE_REASON_FILE}" ]] || rm -f "${FAILURE_REASON_FILE}"
}

# Lists the config var names in ENV_DIR that may be exported (valid names, not denylisted).
function utils::env_dir_names() {
	local env_dir="${1}"
	local path name
	[[ -d "${env_dir}" ]] || return 0
	for path in "${env_dir}"/*; do
		[[ -f "${path}" ]] || continue
		name="$(basename "${path}")"
		[[ "${name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
		[[ "${name}" =~ ${ENV_DIR_DENYLIST_REGEX} ]] && continue
		echo "${name}"
	done
}

# Writes stdin (a heredoc) to <file> as it is, without starting a process (as `cat >file` would).
function utils::write_file() {
	local file="${1}" text=""
	IFS= read -r -d '' text || true
	printf '%s' "${text}" >"${file}"
}

# Exports every allowed config var from ENV_DIR into the current shell (use in a subshell).
function utils::export_env_dir() {
	local env_dir="${1}"
	local name
	while IFS= read -r name; do
		export "${name}=$(<"${env_dir}/${name}")"
	done < <(utils::env_dir_names "${env_dir}")
}

# Exports the pip settings (PIP_INDEX_URL and friends) the app set as config vars.
function utils::export_pip_config() {
	local env_dir="${1}"
	local name
	for name in "${PIP_CONFIG_VARS[@]}"; do
		if [[ -f "${env_dir}/${name}" ]]; then
			# $(<file): the file's text as $(cat file) gives it, without a process.
			export "${name}=$(<"${env_dir}/${name}")"
		fi
	done
}

# The pip settings as "NAME=value" lines, for the dependency cache key.
function utils::pip_config_summary() {
	local name
	for name in "${PIP_CONFIG_VARS[@]}"; do
		echo "${name}=${!name:-}"
	done
}

# Runs a command with its stdout and stderr merged and indented; keeps its exit status.
function utils::run_indented() {
	"$@" |& output::indent
	return "${PIPESTATUS[0]}"
}
