#!/usr/bin/env bash
# Usage: scripts/make-python-runtime.sh [output-dir]
#
# Makes a Python runtime archive (the format buildpacks/python/README.md describes) of a Python
# the stack doesn't provide, from an older Debian release's packages: by default Python 3.11 from
# Debian 12 "bookworm". For tests and demos of PYTHON_RUNTIME_URL_TEMPLATE on machines without a
# real archive store. A container of the stack's build image (network bridge) switches its apt
# sources to the older suite (by editing the suite name in the image's own sources file, so the
# mirror stays whatever the image uses), runs `apt-get download`, unpacks the .debs and lays them
# out as an installation prefix:
#
#   bin/python3.11  bin/python3 -> python3.11  bin/python -> python3  lib/python3.11/...
#
# Debian's interpreter finds its prefix from its own location, so the prefix is relocatable.
# Bookworm's lib-dynload modules link only against libraries trixie's run image has (OpenSSL 3,
# SQLite 3, libffi 8, ...; its _decimal has mpdecimal built in), so nothing is bundled; the one
# exception is the deprecated `nis` module, which needs libnsl.so.2 and fails to import.
#
# Output in <output-dir> (default: .slugforge/runtimes in the repository, or
# $SLUGFORGE_PYTHON_RUNTIMES): python-<X.Y.Z>-<stack>.tar.gz, its .sha256 (sha256sum format) and
# VERSIONS (the full versions made, space-separated, for PYTHON_RUNTIME_VERSIONS). The .debs are
# kept in <output-dir>/.debs; a second run with the same inputs is instant (a stamp records them).
# When the run image exists, the archive is checked there: it must start and import ssl, sqlite3,
# ctypes and decimal with no network.
#
# Environment: RUNTIME_SUITE (default bookworm), RUNTIME_PYTHON (major version, default 3.11),
# STACK (default debian-13), STACK_IMAGE and RUN_IMAGE (default slugforge/stack:<stack>-build|run).

set -euo pipefail

# shellcheck source=scripts/lib/debian-debs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian-debs.sh"

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${1:-${SLUGFORGE_PYTHON_RUNTIMES:-${REPO_DIR}/.slugforge/runtimes}}"
RUNTIME_SUITE="${RUNTIME_SUITE:-bookworm}"
RUNTIME_PYTHON="${RUNTIME_PYTHON:-3.11}"
STACK="${STACK:-debian-13}"
STACK_IMAGE="${STACK_IMAGE:-slugforge/stack:${STACK}-build}"
RUN_IMAGE="${RUN_IMAGE:-slugforge/stack:${STACK}-run}"

function runtime::fail() {
	echo "make-python-runtime: $*" >&2
	exit 1
}

# The inputs that decide the output; the stamp file records them.
function runtime::fingerprint() {
	{
		echo "${RUNTIME_SUITE} ${RUNTIME_PYTHON} ${STACK} ${STACK_IMAGE}"
		cat "${BASH_SOURCE[0]}" "${DEBS_LIB}" | sha256sum
	} | sha256sum | cut -d' ' -f1
}

function runtime::main() {
	local fingerprint stamp="${OUT_DIR}/.stamp-python-${RUNTIME_PYTHON}-${STACK}"
	[[ "${RUNTIME_PYTHON}" =~ ^3\.[0-9]+$ ]] || runtime::fail "RUNTIME_PYTHON must be a major version such as 3.11"
	fingerprint="$(runtime::fingerprint)"
	if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${fingerprint}" ]] &&
		compgen -G "${OUT_DIR}/python-${RUNTIME_PYTHON}.*-${STACK}.tar.gz" >/dev/null; then
		echo "make-python-runtime: ${OUT_DIR} is up to date (Python $(cat "${OUT_DIR}/VERSIONS"))"
		return 0
	fi
	command -v docker >/dev/null || runtime::fail "docker is required"
	docker image inspect "${STACK_IMAGE}" >/dev/null 2>&1 ||
		runtime::fail "image ${STACK_IMAGE} is missing: run 'slugforge stack build' (or npm run pretest) first"

	mkdir -p "${OUT_DIR}/.debs"
	rm -f "${stamp}" "${OUT_DIR}/python-${RUNTIME_PYTHON}".*"-${STACK}.tar.gz"{,.sha256}
	echo "make-python-runtime: Python ${RUNTIME_PYTHON} from Debian ${RUNTIME_SUITE} into ${OUT_DIR}"
	docker run --rm --network bridge \
		-v "${OUT_DIR}:/out" \
		-e "SUITE=${RUNTIME_SUITE}" \
		-e "MINOR=python${RUNTIME_PYTHON}" \
		-e "STACK=${STACK}" \
		-e "OWNER=$(id -u):$(id -g)" \
		--user 0 \
		"${STACK_IMAGE}" bash -c "$(runtime::container_script)"

	local archive
	archive="$(compgen -G "${OUT_DIR}/python-${RUNTIME_PYTHON}.*-${STACK}.tar.gz" | head -n 1)" ||
		runtime::fail "no archive was written"
	runtime::check_on_run_image "${archive}"
	(cd "${OUT_DIR}" && sha256sum "$(basename "${archive}")" >"$(basename "${archive}").sha256")
	runtime::write_versions
	echo "${fingerprint}" >"${stamp}"
	echo "make-python-runtime: $(basename "${archive}") ($(du -h "${archive}" | cut -f1)), sha256 $(cut -c1-12 "${archive}.sha256")"
}

# The full versions of every archive for this stack, as PYTHON_RUNTIME_VERSIONS wants them.
function runtime::write_versions() {
	local file versions=()
	for file in "${OUT_DIR}"/python-*-"${STACK}".tar.gz; do
		[[ -f "${file}" ]] || continue
		file="$(basename "${file}")"
		file="${file#python-}"
		versions+=("${file%-"${STACK}".tar.gz}")
	done
	echo "${versions[*]}" >"${OUT_DIR}/VERSIONS"
}

# The run image has no python3: the archive must work there on its own, with no network.
function runtime::check_on_run_image() {
	local archive="${1}"
	if ! docker image inspect "${RUN_IMAGE}" >/dev/null 2>&1; then
		echo "make-python-runtime: ${RUN_IMAGE} is missing; not checking the archive on it" >&2
		return 0
	fi
	docker run --rm --network none -v "${archive}:/runtime.tar.gz:ro" "${RUN_IMAGE}" bash -c '
		set -euo pipefail
		mkdir /tmp/python && tar -xzf /runtime.tar.gz -C /tmp/python
		/tmp/python/bin/python3 -c "import ssl, sqlite3, ctypes, decimal, hashlib, lzma, bz2, zlib, uuid, readline
import sys; print(\"make-python-runtime: checked on the run image: Python\", sys.version.split()[0], \"(\" + ssl.OPENSSL_VERSION + \")\")"
	' || runtime::fail "the archive doesn't work on ${RUN_IMAGE}"
}

# Runs inside the container as root: download what isn't cached, unpack, lay out, pack.
function runtime::container_script() {
	debs::fetch_function
	cat <<-'SCRIPT'
		set -euo pipefail
		# The image's own sources, with only the suite name changed (one-line or deb822 format).
		mapfile -t sources < <(grep -rlwE 'trixie' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null || true)
		((${#sources[@]} > 0)) || { echo "no apt sources name trixie" >&2; exit 1; }
		sed -i -E "s/\btrixie(-updates|-security)?\b/${SUITE}\1/g" "${sources[@]}"
		packages=("${MINOR}-minimal" "lib${MINOR}-minimal" "lib${MINOR}-stdlib")
		cd /out/.debs
		debs_fetch_missing "${packages[@]}"
		root="$(mktemp -d)"
		for p in "${packages[@]}"; do
			deb="$(compgen -G "${p}_*.deb" | sort -V | tail -n 1)"
			dpkg-deb -x "${deb}" "${root}/debs"
		done
		prefix="${root}/prefix"
		mkdir -p "${prefix}/bin" "${prefix}/lib"
		cp -a "${root}/debs/usr/bin/${MINOR}" "${prefix}/bin/${MINOR}"
		ln -s "${MINOR}" "${prefix}/bin/python3"
		ln -s python3 "${prefix}/bin/python"
		cp -a "${root}/debs/usr/lib/${MINOR}" "${prefix}/lib/${MINOR}"
		# A link into /etc and the marker that stops pip installing into a system Python: neither
		# belongs in an app's private interpreter.
		rm -f "${prefix}/lib/${MINOR}/sitecustomize.py" "${prefix}/lib/${MINOR}/EXTERNALLY-MANAGED"
		version="$("${prefix}/bin/python3" -S -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
		"${prefix}/bin/python3" -c 'import ssl, sqlite3, ctypes, decimal'
		archive="/out/python-${version}-${STACK}.tar.gz"
		tar -C "${prefix}" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -c . | gzip -n -9 >"${archive}.tmp"
		mv "${archive}.tmp" "${archive}"
		chown -R "${OWNER}" /out
	SCRIPT
}

runtime::main
