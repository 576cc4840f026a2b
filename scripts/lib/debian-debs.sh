# shellcheck shell=bash
# Shared by the scripts that repack Debian packages as test data (make-wheelhouse.sh,
# make-python-runtime.sh). Sourced on the host; what runs in their container is printed from here.

# shellcheck disable=SC2034 # read by the scripts that source this file (their fingerprints)
DEBS_LIB="${BASH_SOURCE[0]}"

# Prints a bash function for the container script: debs_fetch_missing PACKAGE... downloads, into
# the current folder, the packages that have no .deb there yet (that folder is a cache kept
# between runs).
function debs::fetch_function() {
	cat <<-'FUNCTION'
		debs_fetch_missing() {
			local p
			local missing=()
			for p in "$@"; do
				compgen -G "${p}_*.deb" >/dev/null || missing+=("${p}")
			done
			if ((${#missing[@]} > 0)); then
				apt-get update -qq
				apt-get download -q "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
			fi
		}
	FUNCTION
}
