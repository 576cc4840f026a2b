#!/usr/bin/env bash
# Pythons the stack doesn't provide, from runtime archives an operator makes available.
#
# Config vars (from ENV_DIR; an operator sets them for every app with SLUGFORGE_BUILD_CONFIG_VARS):
#   PYTHON_RUNTIME_URL_TEMPLATE  where archives are, e.g. file:///runtimes/python-{version}-{stack}.tar.gz
#                                ({version} = X.Y.Z, {major_minor} = X.Y, {stack} = $STACK)
#   PYTHON_RUNTIME_VERSIONS      the full versions the store offers, space-separated (a URL
#                                template can't be listed). Without it, only exact X.Y.Z requests
#                                can be fetched, and a missing archive shows at download time.
#
# An archive is a gzip tarball of a relocatable installation prefix (bin/python3, lib/python3.X/),
# optionally with <url>.sha256 next to it. Downloads are kept in CACHE_DIR, keyed by URL (see
# runtime_archive::fetch), so URLs should name immutable archives.

RUNTIME_ARCHIVE_PLACEHOLDERS="{version} {major_minor} {stack}"

# Set by runtime_archive::fetch.
RUNTIME_ARCHIVE_FILE=""

function runtime_archive::_config_var() {
	local name="${1}"
	if [[ -n "${ENV_DIR:-}" && -f "${ENV_DIR}/${name}" ]]; then
		# Operators may paste values with surrounding whitespace or a trailing newline.
		sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "${ENV_DIR}/${name}" | tr '\n' ' ' | sed 's/ *$//'
	fi
}

# The URL template, or nothing when no operator set one. Fails on a template that can't work.
function runtime_archive::template() {
	local template placeholder rest
	template="$(runtime_archive::_config_var PYTHON_RUNTIME_URL_TEMPLATE)"
	[[ -n "${template}" ]] || return 0
	rest="${template}"
	for placeholder in ${RUNTIME_ARCHIVE_PLACEHOLDERS}; do
		rest="${rest//"${placeholder}"/}"
	done
	if [[ ! "${template}" =~ ^(file|https?):// || "${rest}" == *"{"* || "${rest}" == *"}"* ||
		("${template}" != *"{version}"* && "${template}" != *"{major_minor}"*) ]]; then
		utils::fail runtime-archive::invalid-url-template <<-EOF
			Error: The PYTHON_RUNTIME_URL_TEMPLATE config var is invalid.

			Its value is:

			${template}

			It must be a file://, http:// or https:// URL that names the
			version with the placeholder {version} (such as 3.11.2) or
			{major_minor} (such as 3.11), and may use {stack} ('${STACK}').
			No other placeholders are known. For example:

			   file:///runtimes/python-{version}-{stack}.tar.gz

			It is usually set for every app by the operator of this build
			server (SLUGFORGE_BUILD_CONFIG_VARS); an app's own config var of
			the same name overrides it.
		EOF
	fi
	echo "${template}"
}

# The full versions offered, newest first; nothing when PYTHON_RUNTIME_VERSIONS is unset.
function runtime_archive::offered() {
	local -a versions
	local version bad=()
	read -r -a versions <<<"$(runtime_archive::_config_var PYTHON_RUNTIME_VERSIONS)"
	for version in "${versions[@]}"; do
		[[ "${version}" =~ ^3\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]] || bad+=("${version}")
	done
	if ((${#bad[@]} > 0)); then
		utils::fail runtime-archive::invalid-versions <<-EOF
			Error: The PYTHON_RUNTIME_VERSIONS config var is invalid.

			It must list full Python versions (such as '3.11.2 3.12.9'),
			separated by spaces, but has:

			$(printf '%s\n' "${bad[@]}")

			List exactly the versions the runtime archive store offers.
		EOF
	fi
	((${#versions[@]} > 0)) || return 0
	printf '%s\n' "${versions[@]}" | sort -u -t. -k1,1nr -k2,2nr -k3,3nr
}

function runtime_archive::url() {
	local template="${1}" version="${2}"
	local url="${template//"{version}"/${version}}"
	url="${url//"{major_minor}"/${version%.*}}"
	echo "${url//"{stack}"/${STACK}}"
}

# Downloads <url> to <file> with curl; prints "<curl exit code> <HTTP status>" on failure.
function runtime_archive::_download() {
	local url="${1}" file="${2}"
	local status code=0
	status="$(curl -fsSL --connect-timeout "${CURL_CONNECT_TIMEOUT:-5}" --max-time "${CURL_TIMEOUT:-300}" \
		--retry 3 --retry-connrefused -o "${file}" -w '%{http_code}' "${url}" 2>/dev/null)" || code=$?
	((code == 0)) && return 0
	echo "${code} ${status:-000}"
	return 1
}

# The expected sha256 from <url>.sha256 ("<hex>" or sha256sum's "<hex>  <name>"); nothing when
# there is no such file. When it can't be downloaded: prints "<curl exit code> <HTTP status>" and
# returns 2.
function runtime_archive::_expected_sha256() {
	local url="${1}" version="${2}" tmp="${3}"
	local result code status hex
	if result="$(runtime_archive::_download "${url}.sha256" "${tmp}")"; then
		hex="$(head -c 4096 "${tmp}" | awk 'NR == 1 { print tolower($1) }')"
		if [[ ! "${hex}" =~ ^[0-9a-f]{64}$ ]]; then
			utils::fail runtime-archive::invalid-checksum-file <<-EOF
				Error: Unable to verify the Python ${version} runtime archive.

				The checksum file '${url}.sha256' doesn't start
				with a sha256 hex digest. Its first line should be what
				'sha256sum <archive>' prints. Ask the operator of this build
				server to regenerate it.
			EOF
		fi
		echo "${hex}"
		return 0
	fi
	read -r code status <<<"${result}"
	# No checksum file (HTTP 404/410, or file:// with no such file): the archive goes unverified.
	[[ "${code}" == 37 || ("${code}" == 22 && ("${status}" == 404 || "${status}" == 410)) ]] && return 0
	echo "${result}"
	return 2
}

function runtime_archive::_fail_download() {
	local url="${1}" version="${2}" code="${3}" status="${4}" what="${5:-archive}"
	local reason advice failure_reason
	case "${code}" in
		22)
			reason="The server answered HTTP ${status}."
			if [[ "${status}" == 404 || "${status}" == 410 ]]; then
				failure_reason=runtime-archive::download::not-found
				advice="The archive store doesn't have this file. If the version is listed in
PYTHON_RUNTIME_VERSIONS, the operator must add the archive or remove it
from the list; otherwise choose a version that is available (below)."
			else
				failure_reason=runtime-archive::download::http-error
				advice="This is usually a temporary problem with the archive store: retry the
build. If it persists, tell the operator of this build server."
			fi
			;;
		37)
			failure_reason=runtime-archive::download::no-such-file
			reason="There is no readable file at that path in the build container."
			advice="The operator must mount the folder of archives into builds
(SLUGFORGE_BUILD_MOUNTS=<dir>:/runtimes:ro) and check the file's name."
			;;
		6 | 7 | 28 | 35 | 56 | 52)
			failure_reason=runtime-archive::download::unreachable
			reason="The archive store couldn't be reached (curl error ${code})."
			advice="Builds may run without network access. The operator can serve the
archives from a mounted folder (a file:// template with
SLUGFORGE_BUILD_MOUNTS), or from a mirror the build network reaches.
If the store is only down for now, retry the build."
			;;
		*)
			failure_reason=runtime-archive::download::failed
			reason="curl failed with exit code ${code}."
			advice="Retry the build; if it fails again, tell the operator of this build server."
			;;
	esac
	utils::fail "${failure_reason}" <<-EOF
		Error: Unable to download Python ${version}.

		Couldn't download the Python ${version} runtime ${what} from:
		${url}

		${reason}

		${advice}

		The versions available are:

		$(python_version::available_list)
	EOF
}

# Sets RUNTIME_ARCHIVE_FILE to a verified archive for <url> in <cache-dir>, downloading it when
# needed. The cached copy is reused when the URL is the same and its checksum (when one is
# published) matches, so a rebuild needs no download.
function runtime_archive::fetch() {
	local url="${1}" version="${2}" cache_dir="${3}"
	local dir="${cache_dir}/.heroku/python-runtimes" key expected actual tmp result code status
	key="$(printf '%s' "${url}" | sha256sum | cut -c1-32)"
	RUNTIME_ARCHIVE_FILE="${dir}/${key}.tar.gz"
	mkdir -p "${dir}"
	tmp="$(mktemp -d -t slugforge-python-runtime.XXXXXX)"

	local rc=0
	expected="$(runtime_archive::_expected_sha256 "${url}" "${version}" "${tmp}/sha256")" || rc=$?
	if ((rc == 2)); then
		read -r code status <<<"${expected}"
		if [[ -f "${RUNTIME_ARCHIVE_FILE}" ]]; then
			# The store is down or unreachable, but this very URL was fetched (and checked) before.
			output::warning <<-EOF
				Warning: Couldn't check the Python ${version} runtime archive for changes.

				Downloading '${url##*/}.sha256' failed (curl error ${code}),
				so the build uses the archive cached from an earlier build of
				the same URL, as it was checked then.
			EOF
			output::info "Using the cached runtime archive of ${url}"
			rm -rf "${tmp}"
			return 0
		fi
		runtime_archive::_fail_download "${url}.sha256" "${version}" "${code}" "${status}" "checksum file"
	elif ((rc != 0)); then
		exit "${rc}"
	fi
	if [[ -f "${RUNTIME_ARCHIVE_FILE}" ]]; then
		actual="$(sha256sum "${RUNTIME_ARCHIVE_FILE}" | cut -d' ' -f1)"
		if [[ -z "${expected}" || "${actual}" == "${expected}" ]]; then
			output::info "Using the cached runtime archive of ${url} (sha256 ${actual:0:12})"
			rm -rf "${tmp}"
			return 0
		fi
		output::info "The cached runtime archive doesn't match the published checksum; downloading it again"
	fi

	output::info "Downloading ${url}"
	if ! result="$(runtime_archive::_download "${url}" "${tmp}/archive")"; then
		read -r code status <<<"${result}"
		runtime_archive::_fail_download "${url}" "${version}" "${code}" "${status}"
	fi
	actual="$(sha256sum "${tmp}/archive" | cut -d' ' -f1)"
	if [[ -z "${expected}" ]]; then
		output::info "No ${url##*/}.sha256 is published next to it: the archive isn't verified (sha256 ${actual:0:12})"
	elif [[ "${actual}" != "${expected}" ]]; then
		utils::fail runtime-archive::checksum-mismatch <<-EOF
			Error: The Python ${version} runtime archive failed verification.

			The archive downloaded from:
			${url}
			has sha256 ${actual},
			but '${url##*/}.sha256' says ${expected}.

			The download may have been corrupted, or the archive was
			replaced without updating its checksum. Retry the build; if it
			fails again, ask the operator of this build server to rebuild
			the archive and its checksum file ('sha256sum <archive>').
		EOF
	else
		output::info "Verified sha256 ${actual:0:12} against ${url##*/}.sha256"
	fi
	mv "${tmp}/archive" "${RUNTIME_ARCHIVE_FILE}"
	echo "${url}" >"${dir}/${key}.url"
	rm -rf "${tmp}"
}

# Unpacks <archive> into <dest> and checks that it holds Python <version>.
function runtime_archive::install() {
	local archive="${1}" dest="${2}" version="${3}" url="${4}"
	local found
	mkdir -p "${dest}"
	if ! tar -xzf "${archive}" -C "${dest}" --no-same-owner 2>"${dest}.tar-errors"; then
		runtime_archive::_fail_layout "${url}" "${version}" "It isn't a valid gzip tarball: $(head -c 300 "${dest}.tar-errors")"
	fi
	rm -f "${dest}.tar-errors"
	if [[ ! -x "${dest}/bin/python3" ]]; then
		runtime_archive::_fail_layout "${url}" "${version}" "It has no executable bin/python3 at its root. Its root holds: $(find "${dest}" -mindepth 1 -maxdepth 1 -printf '%f ' | head -c 300)"
	fi
	found="$("${dest}/bin/python3" --version 2>&1 || true)"
	if [[ "${found}" != "Python ${version}" ]]; then
		runtime_archive::_fail_layout "${url}" "${version}" "Its bin/python3 --version says '${found:0:200}', not 'Python ${version}'."
	fi
	[[ -e "${dest}/bin/python" ]] || ln -s python3 "${dest}/bin/python"
	# Debian-built archives may carry these; see python::install for why they don't belong.
	rm -f "${dest}/lib/python${version%.*}/EXTERNALLY-MANAGED"
	[[ -L "${dest}/lib/python${version%.*}/sitecustomize.py" ]] && rm -f "${dest}/lib/python${version%.*}/sitecustomize.py"
	return 0
}

function runtime_archive::_fail_layout() {
	local url="${1}" version="${2}" problem="${3}"
	utils::fail runtime-archive::unusable <<-EOF
		Error: The Python ${version} runtime archive is unusable.

		The archive from:
		${url}
		isn't a Python ${version} installation prefix:

		${problem}

		This is a problem with the build server's runtime archives, not
		with your app. Tell the operator of this build server; meanwhile
		you can use one of the versions available:

		$(python_version::available_list)
	EOF
}

# Keeps only the archive this build used (called after a successful build).
function runtime_archive::prune_cache() {
	local cache_dir="${1}" keep="${2:-}"
	local file
	for file in "${cache_dir}/.heroku/python-runtimes"/*.tar.gz; do
		[[ -f "${file}" && "${file}" != "${keep}" ]] || continue
		rm -f "${file}" "${file%.tar.gz}.url"
	done
}
