#!/usr/bin/env bash
# A self-contained Python in /app/.heroku/python, copied from the build image's interpreter or
# unpacked from a runtime archive.
#
# The run image has no python3 package, so the slug carries the interpreter (Debian builds it
# statically against libpython; it needs only libraries the run image has) and its standard
# library. Python finds its prefix from the executable's location (bin/../lib/python3.N/os.py),
# so the copy works wherever /app/.heroku/python is, without PYTHONHOME.
#
# Debian's patches to sysconfig install packages into <prefix>/local/lib/python3.N/dist-packages
# with scripts in <prefix>/local/bin unless DEB_PYTHON_INSTALL_LAYOUT says otherwise. In a private
# prefix that split makes no sense, so the copy defaults to Debian's "deb_system" layout:
# packages in <prefix>/lib/python3/dist-packages (on Debian's site.py search path) and scripts in
# <prefix>/bin, next to python itself.

# shellcheck disable=SC2034 # used by bin/compile and the other libs
PYTHON_HOME="/app/.heroku/python"

# Copies the interpreter at <source-python> (e.g. /usr/bin/python3.13) into <dest>.
function python::install() {
	local source_python="${1}" dest="${2}"
	local minor include_dir multiarch
	minor="$(basename "${source_python}")" # python3.13
	include_dir="/usr/include/${minor}"
	multiarch="$("${source_python}" -S -c 'import sys; print(sys.implementation._multiarch)')"

	mkdir -p "${dest}/bin" "${dest}/lib" "${dest}/include"
	cp "${source_python}" "${dest}/bin/${minor}"
	ln -sf "${minor}" "${dest}/bin/python3"
	ln -sf python3 "${dest}/bin/python"

	# The static libraries, the system-wide sitecustomize (a link into /etc) and the marker that
	# stops pip installing into Debian's system Python have no place in the app's private copy.
	tar -C /usr/lib -c \
		--exclude="${minor}/config-*/*.a" \
		--exclude="${minor}/config-*/libpython*.so" \
		--exclude="${minor}/sitecustomize.py" \
		--exclude="${minor}/EXTERNALLY-MANAGED" \
		--exclude="${minor}/test" \
		"${minor}" | tar -C "${dest}/lib" -x

	if [[ -d "${include_dir}" ]]; then
		cp -R "${include_dir}" "${dest}/include/"
		# Debian's pyconfig.h only includes the architecture's one from /usr/include/<multiarch>/.
		if [[ -f "/usr/include/${multiarch}/${minor}/pyconfig.h" ]]; then
			cp "/usr/include/${multiarch}/${minor}/pyconfig.h" "${dest}/include/${minor}/pyconfig.h"
		fi
	fi

	python::_use_private_layout "${dest}" "${minor}"
	mkdir -p "${dest}/lib/python3/dist-packages"
}

# Installs a runtime archive (see lib/runtime_archive.sh) into <dest>. Debian-built archives get
# the same private layout as the stack's copy; others keep theirs (lib/python3.N/site-packages),
# which lib/python3/dist-packages then points at, so that the rest of the buildpack finds it.
function python::install_archive() {
	local archive="${1}" dest="${2}" version="${3}" url="${4}"
	local minor="python${version%.*}" purelib
	runtime_archive::install "${archive}" "${dest}" "${version}" "${url}"
	python::_use_private_layout "${dest}" "${minor}"
	purelib="$("${dest}/bin/python3" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
	if [[ "${purelib}" == */"${minor}/site-packages" ]]; then
		mkdir -p "${dest}/lib/${minor}/site-packages" "${dest}/lib/python3"
		[[ -e "${dest}/lib/python3/dist-packages" ]] || ln -s "../${minor}/site-packages" "${dest}/lib/python3/dist-packages"
	else
		mkdir -p "${dest}/lib/python3/dist-packages"
	fi
}

function python::_use_private_layout() {
	local dest="${1}" minor="${2}"
	local sysconfig_file="${dest}/lib/${minor}/sysconfig/__init__.py"
	[[ -f "${sysconfig_file}" ]] || sysconfig_file="${dest}/lib/${minor}/sysconfig.py"
	grep -q "DEB_PYTHON_INSTALL_LAYOUT', 'posix_local'" "${sysconfig_file}" 2>/dev/null || return 0
	sed -i "s/os.environ.get('DEB_PYTHON_INSTALL_LAYOUT', 'posix_local')/os.environ.get('DEB_PYTHON_INSTALL_LAYOUT', 'deb_system')/" "${sysconfig_file}"
	"${dest}/bin/python" -m py_compile "${sysconfig_file}"
}

# Prints the directory pip installs packages into, as the copied Python sees it.
function python::site_packages() {
	local python_home="${1}"
	"${python_home}/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))'
}

# Fails when the copy doesn't use the expected layout (a future Debian patch could change it).
function python::verify() {
	local python_home="${1}"
	local purelib scripts
	purelib="$("${python_home}/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
	scripts="$("${python_home}/bin/python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
	if [[ ("${purelib}" != "${python_home}/lib/python3/dist-packages" &&
		! "${purelib}" =~ ^${python_home}/lib/python3\.[0-9]+/site-packages$) ||
		"${scripts}" != "${python_home}/bin" ]]; then
		utils::fail install-python::unexpected-layout <<-EOF
			Error: The copied Python interpreter has an unexpected layout.

			Packages would be installed into '${purelib}'
			and scripts into '${scripts}', but this buildpack expects
			'${python_home}/lib/python3/dist-packages' and '${python_home}/bin'.

			This is a problem with the buildpack and the stack's Python
			package, not with your app. Please report it to the operator
			of this build server.
		EOF
	fi
}

# The bundled pip wheel that ships with the stack (Debian's python3-pip-whl).
function python::bundled_pip_wheel() {
	local wheel
	local -a wheels=()
	for wheel in /usr/share/python-wheels/pip-*-py3-none-any.whl; do
		[[ -f "${wheel}" ]] && wheels+=("${wheel}")
	done
	# One is usual: sorted only when there are more.
	if ((${#wheels[@]} <= 1)); then
		[[ ${#wheels[@]} -eq 0 ]] || echo "${wheels[0]}"
	else
		printf '%s\n' "${wheels[@]}" | sort -V | tail -n 1
	fi
}

# Installs pip into the copied Python from the wheel the stack ships; no index needed.
function python::install_pip() {
	local python_home="${1}" wheel="${2}"
	# --isolated: the app's PIP_* config vars must not point this bootstrap at an index.
	"${python_home}/bin/python" "${wheel}/pip" install --isolated --no-index --no-cache-dir \
		--quiet --disable-pip-version-check --no-warn-script-location "${wheel}"
}
