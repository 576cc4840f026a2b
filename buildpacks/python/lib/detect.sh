#!/usr/bin/env bash
# Which files make an app "Python". The list is deliberately wider than what compile accepts
# (Heroku's list: common entry points, misspellings of requirements.txt and directories beginners
# commit), so that compile can explain what is missing instead of the app failing detection.

DETECT_FILES=(
	".python-version"
	"__init__.py"
	"app.py"
	"main.py"
	"manage.py"
	"pdm.lock"
	"Pipfile"
	"Pipfile.lock"
	"poetry.lock"
	"pyproject.toml"
	"requirements.txt"
	"runtime.txt"
	"server.py"
	"setup.cfg"
	"setup.py"
	"uv.lock"
	# Misspellings of requirements.txt.
	"requeriments.txt"
	"requirement.txt"
	"requirements"
	"requirements.text"
	"Requirements.txt"
	"requirements.txt.txt"
	"requirments.txt"
	# Often committed by mistake.
	"__pycache__"
	".venv"
	"venv"
)

# Succeeds when any of DETECT_FILES exists (file or directory) in the given directory.
function detect::is_python_app() {
	local build_dir="${1}"
	local name
	for name in "${DETECT_FILES[@]}"; do
		if [[ -e "${build_dir}/${name}" ]]; then
			return 0
		fi
	done
	return 1
}

# The root of the app as `ls` shows it, directories with a trailing slash.
function detect::list_root() {
	local build_dir="${1}"
	local listing
	listing="$(ls -1A --indicator-style=slash "${build_dir}" 2>/dev/null || true)"
	if [[ -z "${listing}" ]]; then
		echo "(nothing: the directory is empty)"
	else
		echo "${listing}"
	fi
}

# The body shared by detect's failure and compile's "no package manager" error.
function detect::no_project_files_message() {
	local build_dir="${1}"
	cat <<-MESSAGE
		A Python app must have a 'requirements.txt', 'Pipfile.lock',
		'poetry.lock' or 'uv.lock' package manager file in the root
		directory of its source code.

		The root directory of your app currently contains:

		$(detect::list_root "${build_dir}")

		The Python buildpack looks for any of these files:

		$(detect::wrapped_file_list)

		If your app already has a package manager file, check that it:

		1. Is in the top level directory (not in a subdirectory).
		2. Is spelled correctly (file names are case-sensitive).
		3. Isn't listed in '.gitignore' or '.slugignore'.
		4. Was added to the Git repository ('git add --all') and
		   committed ('git commit') before you pushed.

		Otherwise add a package manager file to your app. An app with
		no dependencies can use an empty 'requirements.txt':

		   $ touch requirements.txt
		   $ git add requirements.txt && git commit -m "Add requirements.txt"
	MESSAGE
}

# DETECT_FILES joined with commas, a few per line.
function detect::wrapped_file_list() {
	local line="" name
	for name in "${DETECT_FILES[@]}"; do
		if ((${#line} + ${#name} > 60)); then
			echo "${line% }"
			line=""
		fi
		line+="${name}, "
	done
	echo "${line%, }"
}
