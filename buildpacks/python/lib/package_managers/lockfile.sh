#!/usr/bin/env bash
# shellcheck disable=SC2153 # BUILD_DIR, BUILDPACK_DIR and CACHE_DIR are globals set by bin/compile
# What the lockfile package managers share (Pipenv, Poetry and uv: pipenv.sh, poetry.sh and uv.sh
# beside this file), each function taking the <tool> first. Besides lib/package_manager.sh's
# functions, each of those files defines <tool>::display_name, <tool>::lock_command (the command
# that regenerates its lockfile) and <tool>::selection (which dependencies get installed), for
# messages.
#
# The tools themselves can't be downloaded here, and aren't needed: <tool>_export.py beside this
# file (run on the build image's python3) exports the lockfile's default / main dependencies as
# pinned, hashed requirements, as `pipenv requirements`, `poetry export` or `uv export --no-dev`
# would, and pip installs those from whatever index the app's PIP_* config vars name.

# Set by lockfile::export from the export's summary (the key=value lines <tool>_export.py prints).
LOCKFILE_PACKAGES=0
LOCKFILE_HASHED=0
LOCKFILE_UNHASHED=""
LOCKFILE_EXCLUDED=""
LOCKFILE_LOCAL=""

# Writes <out-dir>/requirements.txt (pinned, hashed) and <out-dir>/local.txt (the app's own and
# path / VCS packages) from <tool>'s lockfile; fails the build with advice when the lockfile
# can't be read or is out of date.
function lockfile::export() {
	local tool="${1}" out_dir="${2}"
	local lockfile lock_command python summary reason status=0
	lockfile="$("${tool}::file")"
	lock_command="$("${tool}::lock_command")"
	python="$(command -v /usr/bin/python3 || command -v python3)"
	summary="$("${python}" -I -B "${BUILDPACK_DIR}/lib/package_managers/${tool}_export.py" \
		"${BUILD_DIR}" "${out_dir}" 2>"${out_dir}/errors")" || status=$?
	reason="$(cat "${out_dir}/errors")"
	case "${status}" in
		0) ;;
		2)
			utils::fail "lockfile::${tool}::invalid" <<-EOF
				Error: Can't parse ${lockfile}.

				The buildpack couldn't read the dependencies from '${lockfile}':

				${reason}

				The file may have been edited by hand or mangled by a merge.
				Regenerate it, check that it works locally, and commit it:

				   $ ${lock_command}
				   $ git add ${lockfile} && git commit -m "Regenerate ${lockfile}"
			EOF
			;;
		3)
			utils::fail "lockfile::${tool}::out-of-date" <<-EOF
				Error: ${lockfile} is out of date.

				${reason}

				The lockfile must match the project file next to it, or the
				build would install dependencies other than those you asked
				for. Update the lockfile and commit both files:

				   $ ${lock_command}
				   $ git add ${lockfile} && git commit -m "Update ${lockfile}"
			EOF
			;;
		4)
			utils::fail "lockfile::${tool}::unsupported-dependency" <<-EOF
				Error: Can't install a dependency from ${lockfile}.

				${reason}

				Depend on a package from an index, a path in your app or a
				Git repository instead, then run '${lock_command}' and commit
				the new lockfile.
			EOF
			;;
		*)
			utils::fail "lockfile::${tool}::export-failed" <<-EOF
				Error: Unable to export the dependencies in ${lockfile}.

				The buildpack's lockfile export stopped (status ${status}):

				${reason}

				This is a problem with the buildpack, not your app. Please
				report it to the operator of this build server.
			EOF
			;;
	esac
	local line
	while IFS= read -r line; do
		case "${line}" in
			packages=*) LOCKFILE_PACKAGES="${line#*=}" ;;
			hashed=*) LOCKFILE_HASHED="${line#*=}" ;;
			unhashed=*) LOCKFILE_UNHASHED="${line#*=}" ;;
			excluded=*) LOCKFILE_EXCLUDED="${line#*=}" ;;
			local=*) LOCKFILE_LOCAL="${line#*=}" ;;
			*) ;;
		esac
	done <<<"${summary}"
}

# sha256 of the lockfile plus what was exported from it (which also depends on pyproject.toml for
# old Poetry locks, and on the export script's version).
function lockfile::dependencies_sha256() {
	local tool="${1}" out_dir="${2}"
	{
		sha256sum <"$("${tool}::file")"
		cat "${out_dir}/requirements.txt" "${out_dir}/local.txt"
	} | sha256sum | cut -d' ' -f1
}

# Installs what lockfile::export wrote into <out-dir>. The pinned packages are skipped when the
# cache already holds them; the app's own and path packages are reinstalled on every build,
# since their code may have changed.
function lockfile::install() {
	local tool="${1}" out_dir="${2}" cache_reused="${3}"
	local lockfile pip_cache_dir="${CACHE_DIR}/.heroku/pip-cache"
	lockfile="$("${tool}::file")"

	if ((cache_reused)); then
		output::step "Skipping the dependency install: the cached packages match ${lockfile}"
	else
		local pip_command="pip install"
		((LOCKFILE_HASHED)) && pip_command="pip install --require-hashes"
		output::step "Installing dependencies from ${lockfile} using '${pip_command}'"
		output::info "- ${LOCKFILE_PACKAGES} packages: $("${tool}::selection")"
		if [[ -n "${LOCKFILE_EXCLUDED}" ]]; then
			output::info "- Not installed (development or optional only): ${LOCKFILE_EXCLUDED// /, }"
		fi
		lockfile::_warn_unhashed "${lockfile}"
		lockfile::_pip_install "${tool}" "${out_dir}" "${out_dir}/requirements.txt" \
			"${LOCKFILE_HASHED}" "${pip_cache_dir}"
	fi

	if [[ -n "${LOCKFILE_LOCAL}" ]]; then
		output::step "Installing the app's own and path packages from ${lockfile}: ${LOCKFILE_LOCAL// /, }"
		lockfile::_pip_install "${tool}" "${out_dir}" "${out_dir}/local.txt" \
			0 "${pip_cache_dir}" --no-deps
	fi
	pip::rewrite_editable_paths "${BUILD_DIR}"
}

function lockfile::_warn_unhashed() {
	local lockfile="${1}"
	[[ -n "${LOCKFILE_UNHASHED}" ]] || return 0
	output::warning <<-EOF
		Warning: Some packages in ${lockfile} have no hashes.

		These packages have no file hashes in '${lockfile}':

		${LOCKFILE_UNHASHED// /, }

		pip checks hashes only when every package has them, so this
		build installs all of them without checking that the files
		are the ones you locked. Lock against an index that serves
		hashes, or see why those entries have none, and commit the
		regenerated lockfile.
	EOF
}

# pip install -r <requirements> <require-hashes 1|0> <pip-cache-dir> [pip options]; failures
# explained, hash mismatches in particular.
function lockfile::_pip_install() {
	local tool="${1}" out_dir="${2}" requirements="${3}" require_hashes="${4}" cache_dir="${5}"
	shift 5
	local log="${out_dir}/pip.log"
	local -a args=(install -r "${requirements}" --exists-action=w --no-input --progress-bar off
		--src="${PYTHON_HOME}/src" --cache-dir="${cache_dir}" "$@")
	[[ "${require_hashes}" == 1 ]] && args+=(--require-hashes)
	if pip::run "${PYTHON_HOME}" "${args[@]}" | tee "${log}"; then
		return 0
	fi
	lockfile::_explain_hash_failure "${tool}" "${log}"
	pip::fail_install "$("${tool}::display_name")" "install-dependencies::${tool}"
}

# Fails with advice when pip's log shows a hash mismatch or a package missing from the lockfile.
function lockfile::_explain_hash_failure() {
	local tool="${1}" log="${2}"
	local lockfile lock_command mismatched
	lockfile="$("${tool}::file")"
	lock_command="$("${tool}::lock_command")"
	if grep -q "DO NOT MATCH THE HASHES" "${log}"; then
		mismatched="$(grep -oE '^[[:space:]]+[A-Za-z0-9._-]+(\[[^]]*\])?==[^[:space:]]+ from ' "${log}" |
			sed -E 's/^[[:space:]]+//; s/ from $//' | sort -u | paste -sd' ')"
		utils::fail "install-dependencies::${tool}::hash-mismatch" <<-EOF
			Error: Package files don't match the hashes in ${lockfile}.

			pip found these packages, but their files aren't the ones
			'${lockfile}' records (their sha256 hashes differ):

			${mismatched// /, }

			The index the build uses (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL,
			PIP_FIND_LINKS config vars, or PyPI) serves different files
			than the ones that were locked: a mirror that rebuilt them, a
			lockfile edited by hand, or files that were tampered with.

			Lock against the same index the build uses, and commit:

			   $ ${lock_command}
			   $ git add ${lockfile} && git commit -m "Update ${lockfile}"

			See the log output above for the expected and actual hashes.
		EOF
	fi
	if grep -q "Hashes are required in --require-hashes mode" "${log}"; then
		utils::fail "install-dependencies::${tool}::unpinned-dependency" <<-EOF
			Error: A dependency isn't pinned in ${lockfile}.

			A package needs a dependency that '${lockfile}' doesn't list
			(see the log output above), so pip can't check its hash. The
			lockfile is incomplete or out of date. Regenerate it and
			commit it:

			   $ ${lock_command}
			   $ git add ${lockfile} && git commit -m "Update ${lockfile}"
		EOF
	fi
}
