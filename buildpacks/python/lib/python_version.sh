#!/usr/bin/env bash
# Which Python the app asked for, and which one the stack can give it.
#
# Precedence (as Heroku's buildpack): runtime.txt (deprecated), .python-version, Pipfile.lock
# (Pipenv apps only), the major version of the last build (sticky), the newest the stack provides.
# Versions come from the build image's own interpreters (/usr/bin/python3.N), preferred whenever
# they match, and from runtime archives an operator offers (see lib/runtime_archive.sh).

# Oldest and newest minor versions that exist upstream and are not end-of-life.
OLDEST_SUPPORTED_MINOR=10
NEWEST_KNOWN_MINOR=14

# Set by python_version::read_requested.
# shellcheck disable=SC2034 # read by bin/compile
REQUESTED_PYTHON_VERSION=""
PYTHON_VERSION_ORIGIN=""

# Lines of a version file with whitespace trimmed, and blank lines and comments dropped.
function python_version::_significant_lines() {
	local file="${1}"
	sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' -e '/^#/d' "${file}" | tr -d '\000'
}

function python_version::_is_valid() {
	[[ "${1}" =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?$ ]]
}

# The interpreters the stack provides, one "X.Y.Z /path/to/pythonX.Y" per line, newest first.
function python_version::available() {
	local path version
	local -a found=()
	for path in /usr/bin/python3.[0-9]*; do
		[[ "${path}" =~ /python3\.[0-9]+$ && -x "${path}" ]] || continue
		# `-V` ("Python 3.13.5", "Python 3.14.0rc1") answers in a quarter of the time the
		# interpreter takes to start; anything else it says is asked of the interpreter itself.
		version="$("${path}" -V 2>/dev/null)" || continue
		if [[ "${version}" =~ ^Python\ ([0-9]+\.[0-9]+\.[0-9]+) ]]; then
			version="${BASH_REMATCH[1]}"
		else
			version="$("${path}" -S -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null)" || continue
		fi
		found+=("${version} ${path}")
	done
	# One is usual: sorted only when there are more.
	if ((${#found[@]} <= 1)); then
		[[ ${#found[@]} -eq 0 ]] || echo "${found[0]}"
	else
		printf '%s\n' "${found[@]}" | sort -t. -k1,1nr -k2,2nr -k3,3nr
	fi
}

# "- 3.13 (Python 3.13.5)" style list of what the stack provides and the runtime archives offer,
# for messages.
function python_version::available_list() {
	local version path template
	while read -r version path; do
		echo "- ${version%.*} (Python ${version})"
	done < <(python_version::available)
	template="$(runtime_archive::template)"
	[[ -n "${template}" ]] || return 0
	while read -r version; do
		[[ -n "${version}" ]] && echo "- ${version%.*} (Python ${version}, from a runtime archive)"
	done < <(runtime_archive::offered)
	if [[ -z "$(runtime_archive::offered)" ]]; then
		echo "- an exact version (X.Y.Z) that the runtime archive store has"
	fi
}

function python_version::_fail_runtime_txt() {
	utils::fail runtime-txt::invalid-version <<-EOF
		Error: Invalid Python version in runtime.txt.

		The Python version specified in 'runtime.txt' isn't in
		the correct format.

		The runtime.txt file is deprecated anyway: delete it and put the
		Python version in a '.python-version' file instead, for example:

		   $ git rm runtime.txt
		   $ echo "3.13" > .python-version
		   $ git add .python-version && git commit -m "Use .python-version"

		We recommend giving only the major version (such as '3.13'),
		so that your app gets patch updates automatically.
	EOF
}

function python_version::_check_misspelled_python_version_file() {
	local build_dir="${1}"
	local name
	local misspellings=(
		" .python-version" ". python-version" ".python_version.txt" ".python_version"
		".python-version " ",python-version" ".python-version." ".python-version.py"
		".python-version.rtf" ".python-version.txt" ".python-version.TXT" ".Python-version"
		".python.version" ".pythonversion" "'.python-version'" "python_version.txt"
		"python_version" "python-version." "python-version.txt" "python-version"
	)
	for name in "${misspellings[@]}"; do
		if [[ -e "${build_dir}/${name}" ]]; then
			utils::fail python-version-file::misspelled <<-EOF
				Error: Your .python-version file is spelled incorrectly.

				Found a file named '${name}', but the Python version
				file must be named exactly '.python-version' (with a leading
				dot, a hyphen, and no file extension).

				Rename it, for example:

				   $ git mv '${name}' .python-version
				   $ git commit -m "Rename the Python version file"
			EOF
		fi
	done
}

# A byte order mark, NUL bytes (UTF-16) or invalid UTF-8: saved by an editor in another encoding.
function python_version::_is_unreadable_text() {
	local file="${1}"
	local head
	head="$(head -c 3 "${file}" | od -An -tx1 | tr -d ' \n')"
	[[ "${head}" == efbbbf* || "${head}" == fffe* || "${head}" == feff* ]] && return 0
	[[ "$(tr -d '\000' <"${file}" | wc -c)" != "$(wc -c <"${file}")" ]] && return 0
	! iconv -f UTF-8 -t UTF-8 "${file}" >/dev/null 2>&1
}

function python_version::_read_python_version_file() {
	local file="${1}"
	local -a lines
	mapfile -t lines < <(python_version::_significant_lines "${file}")
	if ((${#lines[@]} == 0)); then
		utils::fail python-version-file::no-version <<-EOF
			Error: No Python version found in .python-version.

			The '.python-version' file is empty, or has only comments.
			Put the Python major version your app uses in it, such as:

			   $ echo "3.13" > .python-version
		EOF
	fi
	if ((${#lines[@]} > 1)); then
		utils::fail python-version-file::multiple-versions <<-EOF
			Error: Multiple Python versions found in .python-version.

			The '.python-version' file has these versions:

			$(printf '%s\n' "${lines[@]}")

			It must hold exactly one (such as '3.13'). Remove the others.
		EOF
	fi
	if ! python_version::_is_valid "${lines[0]}"; then
		if python_version::_is_unreadable_text "${file}"; then
			utils::fail python-version-file::invalid-encoding <<-EOF
				Error: Unable to read .python-version.

				The '.python-version' file isn't plain UTF-8 text without a
				byte order mark (it may be UTF-16 or have a BOM). Save it as
				plain text, for example:

				   $ echo "3.13" > .python-version
			EOF
		fi
		utils::fail python-version-file::invalid-version <<-EOF
			Error: Invalid Python version in .python-version.

			The Python version specified in '.python-version' isn't
			in the correct format:

			${lines[0]//[^[:print:]]/�}

			It must be a major version such as '3.13' (recommended,
			so your app gets patch updates) or an exact version such
			as '3.13.5', with no 'python-' prefix or other text.
		EOF
	fi
	echo "${lines[0]}"
}

function python_version::_read_pipfile_lock() {
	local file="${1}"
	local version
	if ! version="$(python3 -S - "${file}" 2>&1 <<-'PY'
		import json, sys
		try:
		    with open(sys.argv[1], encoding="utf-8") as f:
		        meta = json.load(f).get("_meta", {}).get("requires", {})
		except (ValueError, AttributeError) as e:
		    sys.exit(f"{type(e).__name__}: {e}")
		print(meta.get("python_full_version") or meta.get("python_version") or "")
	PY
	)"; then
		utils::fail pipfile-lock::invalid-json <<-EOF
			Error: Can't parse Pipfile.lock.

			'Pipfile.lock' isn't valid JSON:

			${version}

			Regenerate it, and commit the result:

			   $ pipenv lock
			   $ git add Pipfile.lock && git commit -m "Regenerate Pipfile.lock"
		EOF
	fi
	if [[ -n "${version}" ]] && ! python_version::_is_valid "${version}"; then
		utils::fail pipfile-lock::invalid-version <<-EOF
			Error: Invalid Python version in Pipfile.lock.

			The Python version '${version}' in the 'python_version' or
			'python_full_version' of 'Pipfile.lock' isn't an exact
			version such as '3.13' or '3.13.5'.

			Set 'python_version = "3.13"' in the [requires] section of
			'Pipfile', then run 'pipenv lock' and commit both files.
		EOF
	fi
	echo "${version}"
}

# Sets REQUESTED_PYTHON_VERSION (may be empty) and PYTHON_VERSION_ORIGIN.
function python_version::read_requested() {
	local build_dir="${1}" cache_dir="${2}" package_manager="${3}"
	local contents cached

	if [[ -f "${build_dir}/runtime.txt" ]]; then
		contents="$(python_version::_significant_lines "${build_dir}/runtime.txt")"
		if [[ "${contents}" =~ ^python-((0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?)$ ]]; then
			REQUESTED_PYTHON_VERSION="${BASH_REMATCH[1]}"
			PYTHON_VERSION_ORIGIN="runtime.txt"
			return 0
		fi
		python_version::_fail_runtime_txt
	fi

	python_version::_check_misspelled_python_version_file "${build_dir}"

	if [[ -f "${build_dir}/.python-version" ]]; then
		REQUESTED_PYTHON_VERSION="$(python_version::_read_python_version_file "${build_dir}/.python-version")"
		PYTHON_VERSION_ORIGIN=".python-version"
		return 0
	fi

	if [[ "${package_manager}" == "pipenv" ]]; then
		REQUESTED_PYTHON_VERSION="$(python_version::_read_pipfile_lock "${build_dir}/Pipfile.lock")"
		if [[ -n "${REQUESTED_PYTHON_VERSION}" ]]; then
			PYTHON_VERSION_ORIGIN="Pipfile.lock"
			return 0
		fi
	fi

	cached="$(cat "${cache_dir}/.heroku/python-version" 2>/dev/null || true)"
	if [[ "${cached}" =~ ^python-(([0-9]+)\.([0-9]+))\.[0-9]+$ ]]; then
		REQUESTED_PYTHON_VERSION="${BASH_REMATCH[1]}"
		PYTHON_VERSION_ORIGIN="cached"
		return 0
	fi

	REQUESTED_PYTHON_VERSION=""
	# shellcheck disable=SC2034 # read by bin/compile
	PYTHON_VERSION_ORIGIN="default"
}

# Prints "X.Y.Z stack /usr/bin/pythonX.Y" or "X.Y.Z archive <url>" for the request, or fails with
# the versions available. The stack's interpreter wins when it matches: no download.
function python_version::resolve() {
	local requested="${1}" origin="${2}"
	local major minor which="requested" version path template
	[[ "${origin}" == "cached" ]] && which="cached"
	template="$(runtime_archive::template)"

	if [[ -z "${requested}" ]]; then
		python_version::available | head -n 1 | sed 's/ / stack /'
		return 0
	fi

	IFS=. read -r major minor _ <<<"${requested}"
	if ((major < 3 || (major == 3 && minor < OLDEST_SUPPORTED_MINOR))); then
		utils::fail python-version::eol <<-EOF
			Error: The ${which} Python version has reached end-of-life.

			Python ${major}.${minor} has reached its upstream end-of-life, and
			is therefore no longer receiving security updates:
			https://devguide.python.org/versions/#supported-versions

			Upgrade your app to a newer Python version. This stack provides:

			$(python_version::available_list)

			Then update the version in '${origin}'.
		EOF
	fi
	if ((major > 3 || (major == 3 && minor > NEWEST_KNOWN_MINOR))); then
		utils::fail python-version::unknown <<-EOF
			Error: The ${which} Python version isn't recognised.

			The requested Python version ${major}.${minor} isn't a known
			version. Check that it's spelled correctly and isn't a
			future release. This stack provides:

			$(python_version::available_list)

			Update the version in '${origin}' to one of these.
		EOF
	fi

	while read -r version path; do
		if [[ "${version}" == "${requested}" || "${version%.*}" == "${requested}" ]]; then
			echo "${version} stack ${path}"
			return 0
		fi
	done < <(python_version::available)

	if [[ -n "${template}" ]]; then
		while read -r version; do
			if [[ -n "${version}" && ("${version}" == "${requested}" || "${version%.*}" == "${requested}") ]]; then
				echo "${version} archive $(runtime_archive::url "${template}" "${version}")"
				return 0
			fi
		done < <(runtime_archive::offered)
		# Unlisted: an exact version is tried, and a missing archive fails at download time.
		if [[ -z "$(runtime_archive::offered)" && "${requested}" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
			echo "${requested} archive $(runtime_archive::url "${template}" "${requested}")"
			return 0
		fi
	fi

	local others
	if [[ -z "${template}" ]]; then
		others=$'and this build server offers no other\nPython versions (its operator can offer more as runtime\narchives with PYTHON_RUNTIME_URL_TEMPLATE).'
	elif [[ -n "$(runtime_archive::offered)" ]]; then
		others="nor by this build server's runtime archives."
	else
		others=$'and this build server\'s runtime archives\ncan only be fetched by exact version (such as '"${requested}"$'.1),\nsince its operator hasn\'t listed them in PYTHON_RUNTIME_VERSIONS.'
	fi
	utils::fail python-version::not-available <<-EOF
		Error: The requested Python version isn't available.

		Python ${requested} (from '${origin}') isn't provided by the
		'${STACK}' stack, ${others}

		The versions available are:

		$(python_version::available_list)

		Use one of these by giving only its major version, for example:

		   $ echo "$(python_version::available | head -n 1 | cut -d. -f1,2)" > .python-version

		Giving the major version alone lets the app follow the patch
		releases the stack provides.
	EOF
}

# Prints the version line and the warnings that go with the origin of the version.
# uv apps must name their Python in .python-version, as uv itself expects (Heroku refuses them
# otherwise too): the default or sticky version could differ from the one uv locked against.
function python_version::check_uv_request() {
	local package_manager="${1}" origin="${2}" version="${3}"
	[[ "${package_manager}" == "uv" ]] || return 0
	case "${origin}" in
		runtime.txt)
			utils::fail runtime-txt::not-supported-with-uv <<-EOF
				Error: The runtime.txt file isn't supported when using uv.

				When using the package manager uv, the Python version must
				be given in a '.python-version' file, which uv reads too.
				Replace runtime.txt with one:

				   $ git rm runtime.txt
				   $ uv python pin ${version%.*}
				   $ git add .python-version && git commit -m "Use .python-version"
			EOF
			;;
		default | cached)
			utils::fail python-version-file::required-by-uv <<-EOF
				Error: No Python version was specified.

				When using the package manager uv, the Python version your
				app uses must be given in a '.python-version' file, so that
				the build uses the one uv locked your dependencies for.
				Add one, for example:

				   $ uv python pin ${version%.*}
				   $ git add .python-version && git commit -m "Pin Python ${version%.*}"
			EOF
			;;
		*) ;;
	esac
}

function python_version::announce() {
	local requested="${1}" origin="${2}" version="${3}"
	local major="${version%.*}"
	case "${origin}" in
		default)
			output::step "No Python version was specified. Using the buildpack default: Python ${major}"
			;;
		cached)
			output::step "No Python version was specified. Using the same major version as the last build: Python ${major}"
			;;
		*)
			output::step "Using Python ${requested} specified in ${origin}"
			;;
	esac

	case "${origin}" in
		default | cached)
			output::warning <<-EOF
				Warning: No Python version was specified.

				Your app doesn't specify a Python version, so the build used
				the default (Python ${major}). A later build may pick a newer
				major version, which could break your app.

				Add a '.python-version' file with the major version to use:

				   $ echo "${major}" > .python-version
				   $ git add .python-version && git commit -m "Pin Python ${major}"
			EOF
			;;
		runtime.txt)
			output::warning <<-EOF
				Warning: The runtime.txt file is deprecated.

				The runtime.txt file is deprecated since it has been replaced
				by the more widely supported .python-version file:
				https://devcenter.heroku.com/changelog-items/3141

				Switch to '.python-version' (we recommend the major version
				only, such as '${major}'):

				   $ git rm runtime.txt
				   $ echo "${major}" > .python-version
				   $ git add .python-version && git commit -m "Use .python-version"
			EOF
			;;
		*) ;;
	esac
	if [[ "${major}" == "3.10" ]]; then
		output::warning <<-EOF
			Warning: Support for Python 3.10 is deprecated!

			Python 3.10 reaches its upstream end-of-life in October 2026.
			Upgrade to a newer Python version.
		EOF
	fi
}
