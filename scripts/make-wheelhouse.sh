#!/usr/bin/env bash
# Usage: scripts/make-wheelhouse.sh [output-dir]
#
# Makes a folder of wheels (a "wheelhouse" for pip's --find-links) from Debian trixie's python3-*
# packages, for tests and demos on machines without PyPI. Debian's archive is reachable where
# PyPI isn't: a container of the stack's build image (network bridge) runs `apt-get download`,
# unpacks the .debs, and repacks each package's dist-packages files with its metadata as a wheel
# (WHEEL + RECORD with sha256 hashes). Pure-Python packages become py3-none-any wheels; packages
# with C extensions (markupsafe) are tagged for the stack's Python (cp313-cp313-linux_x86_64).
#
# Output: <output-dir> (default: .slugforge/wheelhouse/debian-13 in the repository, or
# $SLUGFORGE_WHEELHOUSE). The .debs are kept in <output-dir>/.debs. A second run with the same
# package list and script is instant. Mount the folder into builds (SLUGFORGE_BUILD_MOUNTS=
# <dir>:/wheelhouse:ro) and give the app PIP_FIND_LINKS=/wheelhouse and PIP_NO_INDEX=1.
#
# Environment: WHEELHOUSE_PACKAGES (Debian package names, space-separated) overrides the list;
# STACK_IMAGE overrides the image (default slugforge/stack:debian-13-build).

set -euo pipefail

# shellcheck source=scripts/lib/debian-debs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian-debs.sh"

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${1:-${SLUGFORGE_WHEELHOUSE:-${REPO_DIR}/.slugforge/wheelhouse/debian-13}}"
STACK_IMAGE="${STACK_IMAGE:-slugforge/stack:debian-13-build}"

DEFAULT_PACKAGES=(
	python3-flask python3-werkzeug python3-jinja2 python3-markupsafe python3-itsdangerous
	python3-click python3-blinker python3-gunicorn python3-packaging
	python3-django python3-asgiref python3-sqlparse python3-whitenoise
	python3-six python3-certifi python3-idna python3-typing-extensions
	# Not wheels: the JavaScript that python3-django links to for its admin's static files.
	libjs-jquery
)
read -r -a PACKAGES <<<"${WHEELHOUSE_PACKAGES:-${DEFAULT_PACKAGES[*]}}"

function wheelhouse::fail() {
	echo "make-wheelhouse: $*" >&2
	exit 1
}

# The inputs that decide the output; the stamp file records them.
function wheelhouse::fingerprint() {
	{
		printf '%s\n' "${PACKAGES[@]}"
		echo "${STACK_IMAGE}"
		cat "${BASH_SOURCE[0]}" "${DEBS_LIB}" | sha256sum
	} | sha256sum | cut -d' ' -f1
}

function wheelhouse::main() {
	local fingerprint
	fingerprint="$(wheelhouse::fingerprint)"
	if [[ -f "${OUT_DIR}/.stamp" && "$(cat "${OUT_DIR}/.stamp")" == "${fingerprint}" ]]; then
		echo "make-wheelhouse: ${OUT_DIR} is up to date ($(find "${OUT_DIR}" -maxdepth 1 -name '*.whl' | wc -l) wheels)"
		return 0
	fi
	command -v docker >/dev/null || wheelhouse::fail "docker is required"
	docker image inspect "${STACK_IMAGE}" >/dev/null 2>&1 ||
		wheelhouse::fail "image ${STACK_IMAGE} is missing: run 'slugforge stack build' (or npm run pretest) first"

	mkdir -p "${OUT_DIR}/.debs"
	rm -f "${OUT_DIR}"/*.whl "${OUT_DIR}/.stamp"
	echo "make-wheelhouse: downloading ${#PACKAGES[@]} Debian packages and writing wheels into ${OUT_DIR}"
	docker run --rm --network bridge \
		-v "${OUT_DIR}:/out" \
		-e "PACKAGES=${PACKAGES[*]}" \
		-e "OWNER=$(id -u):$(id -g)" \
		--user 0 \
		"${STACK_IMAGE}" bash -c "$(wheelhouse::container_script)"
	echo "${fingerprint}" >"${OUT_DIR}/.stamp"
	echo "make-wheelhouse: $(find "${OUT_DIR}" -maxdepth 1 -name '*.whl' | wc -l) wheels in ${OUT_DIR}"
}

# Runs inside the container: download what isn't cached, unpack, convert, hand files back.
function wheelhouse::container_script() {
	debs::fetch_function
	cat <<-'SCRIPT'
		set -euo pipefail
		read -r -a packages <<<"${PACKAGES}"
		cd /out/.debs
		debs_fetch_missing "${packages[@]}"
		root="$(mktemp -d)"
		for p in "${packages[@]}"; do
			for deb in "${p}"_*.deb; do
				mkdir -p "${root}/${p}"
				dpkg-deb -x "${deb}" "${root}/${p}"
			done
		done
		python3 - "${root}" /out <<'PY'
		SCRIPT
	wheelhouse::converter
	cat <<-'SCRIPT'
		PY
		chown -R "${OWNER}" /out
	SCRIPT
}

# Python (run by the build image's python3) that turns unpacked .debs into wheels.
function wheelhouse::converter() {
	cat <<-'PY'
		import base64, email.parser, hashlib, os, re, sys, sysconfig, zipfile

		root, out = sys.argv[1], sys.argv[2]
		SITE = "usr/lib/python3/dist-packages"
		EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")  # .cpython-313-x86_64-linux-gnu.so
		PY_TAG = "cp%d%d" % sys.version_info[:2]
		SKIP_META = {"INSTALLER", "RECORD", "REQUESTED", "direct_url.json", "SOURCES.txt",
		             "dependency_links.txt", "not-zip-safe", "installed-files.txt"}

		def resolve(pkg_root, path):
		    """Follows a symlink inside the unpacked packages (Debian links to other packages)."""
		    for _ in range(20):
		        if not os.path.islink(path):
		            return path if os.path.isfile(path) else None
		        target = os.readlink(path)
		        rel = os.path.normpath(os.path.join(os.path.dirname(os.path.relpath(path, pkg_root)), target)) \
		            if not target.startswith("/") else target.lstrip("/")
		        for candidate in [os.path.join(pkg_root, rel)] + [os.path.join(root, d, rel) for d in os.listdir(root)]:
		            if os.path.lexists(candidate):
		                path, pkg_root = candidate, os.path.join(root, os.path.relpath(candidate, root).split(os.sep)[0])
		                break
		        else:
		            return None
		    return None

		def metadata_from(meta_dir):
		    if os.path.exists(os.path.join(meta_dir, "METADATA")):
		        text = open(os.path.join(meta_dir, "METADATA"), encoding="utf-8").read()
		    else:  # an .egg-info: PKG-INFO, plus requires.txt turned into Requires-Dist
		        text = open(os.path.join(meta_dir, "PKG-INFO"), encoding="utf-8").read()
		        req = os.path.join(meta_dir, "requires.txt")
		        if os.path.exists(req):
		            head, _, body = text.partition("\n\n")
		            extra = marker = ""
		            lines = []
		            for line in open(req, encoding="utf-8").read().splitlines():
		                line = line.strip()
		                if not line:
		                    continue
		                if line.startswith("["):
		                    section = line.strip("[]")
		                    extra, _, marker = section.partition(":")
		                    continue
		                conds = [c for c in (marker, 'extra == "%s"' % extra if extra else "") if c]
		                lines.append("Requires-Dist: " + line + ("; " + " and ".join(conds) if conds else ""))
		            text = head + "\n" + "\n".join(lines) + "\n\n" + body
		    return text

		def record_hash(data):
		    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

		def build(pkg):
		    pkg_root = os.path.join(root, pkg)
		    site = os.path.join(pkg_root, SITE)
		    if not os.path.isdir(site):
		        return None
		    metas = [d for d in os.listdir(site) if d.endswith((".dist-info", ".egg-info"))]
		    if len(metas) != 1:
		        print("  skip %s: %d metadata directories" % (pkg, len(metas)))
		        return None
		    meta_dir = os.path.join(site, metas[0])
		    text = metadata_from(meta_dir)
		    msg = email.parser.Parser().parsestr(text)
		    name, version = msg["Name"], msg["Version"]
		    dist = re.sub(r"[-_.]+", "_", name)
		    files, binary = [], False
		    for dirpath, dirnames, filenames in os.walk(site):
		        dirnames[:] = [d for d in dirnames if d != "__pycache__" and os.path.join(dirpath, d) != meta_dir]
		        for f in filenames:
		            full = os.path.join(dirpath, f)
		            rel = os.path.relpath(full, site)
		            real = resolve(pkg_root, full)
		            if real is None:
		                print("  %s: leaving out %s (links outside the downloaded packages)" % (pkg, rel))
		                continue
		            binary = binary or f.endswith(EXT_SUFFIX)
		            files.append((rel, real))
		    tag = "%s-%s-linux_x86_64" % (PY_TAG, PY_TAG) if binary else "py3-none-any"
		    info = "%s-%s.dist-info" % (dist, version)
		    wheel_meta = "Wheel-Version: 1.0\nGenerator: slugforge-make-wheelhouse\nRoot-Is-Purelib: %s\nTag: %s\n" % (
		        "false" if binary else "true", tag)
		    extra_meta = {"METADATA": text.encode(), "WHEEL": wheel_meta.encode()}
		    for f in sorted(os.listdir(meta_dir)):
		        if f in SKIP_META or f in ("METADATA", "WHEEL", "PKG-INFO", "requires.txt") or os.path.isdir(os.path.join(meta_dir, f)):
		            continue
		        extra_meta[f] = open(os.path.join(meta_dir, f), "rb").read()
		    path = os.path.join(out, "%s-%s-%s.whl" % (dist, version, tag))
		    record = []
		    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
		        for rel, real in sorted(files):
		            data = open(real, "rb").read()
		            info_zip = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
		            info_zip.external_attr = ((0o755 if os.access(real, os.X_OK) else 0o644) | 0o100000) << 16
		            info_zip.compress_type = zipfile.ZIP_DEFLATED
		            z.writestr(info_zip, data)
		            record.append("%s,%s,%d" % (rel, record_hash(data), len(data)))
		        for f, data in extra_meta.items():
		            z.writestr(zipfile.ZipInfo("%s/%s" % (info, f), date_time=(2020, 1, 1, 0, 0, 0)), data)
		            record.append("%s/%s,%s,%d" % (info, f, record_hash(data), len(data)))
		        record.append("%s/RECORD,," % info)
		        z.writestr(zipfile.ZipInfo("%s/RECORD" % info, date_time=(2020, 1, 1, 0, 0, 0)), "\n".join(record) + "\n")
		    return os.path.basename(path)

		for pkg in sorted(os.listdir(root)):
		    made = build(pkg)
		    if made:
		        print("  " + made)
	PY
}

wheelhouse::main
