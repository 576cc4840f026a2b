#!/usr/bin/env bash
# Exactly one package manager per app, chosen by its lockfile or requirements file, and the one
# door to the code of each: lib/package_managers/<tool>.sh.
#
# pip: requirements.txt; Pipenv: Pipfile.lock; Poetry: poetry.lock; uv: uv.lock. The tools
# themselves are not installed: pip installs every kind, from the lockfile's pinned entries.
# Each tool's file defines the same functions, which bin/compile calls through
# package_manager::call <tool> <function> [args]:
#
#   <tool>::file                      the file whose contents decide the dependencies
#   <tool>::prepare <work-dir>        reads that file before Python is installed (a lockfile is
#                                     exported into <work-dir>); fails with advice
#   <tool>::dependencies_sha256 <work-dir>
#                                     what the cache key holds of the dependencies
#   <tool>::install_dependencies <work-dir> <cache-reused 1|0>
#                                     installs them, unless the restored cache already holds them

# Prints "pip", "pipenv", "poetry" or "uv", or fails explaining what is wrong.
function package_manager::determine() {
	local build_dir="${1}"
	local -a found=()

	if [[ -f "${build_dir}/Pipfile.lock" ]]; then
		found+=("Pipfile.lock (Pipenv)")
	elif [[ -f "${build_dir}/Pipfile" ]]; then
		utils::fail package-manager::pipenv-missing-lockfile <<-EOF
			Error: No 'Pipfile.lock' found!

			A 'Pipfile' file was found, but no 'Pipfile.lock'. The lockfile
			pins the exact versions of every dependency, and is what gets
			installed. Generate it and commit it:

			   $ pipenv lock
			   $ git add Pipfile.lock && git commit -m "Add Pipfile.lock"

			If you don't use Pipenv, delete the 'Pipfile' instead.
		EOF
	fi
	[[ -f "${build_dir}/requirements.txt" ]] && found+=("requirements.txt (pip)")
	[[ -f "${build_dir}/poetry.lock" ]] && found+=("poetry.lock (Poetry)")
	[[ -f "${build_dir}/uv.lock" ]] && found+=("uv.lock (uv)")

	if ((${#found[@]} > 1)); then
		utils::fail package-manager::multiple-found <<-EOF
			Error: Multiple Python package manager files were found.

			Exactly one package manager file should be in the root
			directory of your app, but these were found:

			$(printf '%s\n' "${found[@]}")

			Having several makes it unclear which dependencies get
			installed. Decide which package manager your app uses, and
			delete the files of the others, then commit the change.
		EOF
	fi

	if ((${#found[@]} == 1)); then
		case "${found[0]}" in
			Pipfile.lock*) echo "pipenv" ;;
			requirements.txt*) echo "pip" ;;
			poetry.lock*) echo "poetry" ;;
			uv.lock*) echo "uv" ;;
			*) return 1 ;;
		esac
		return 0
	fi

	if [[ -f "${build_dir}/setup.py" ]]; then
		utils::fail package-manager::setup-py-only <<-EOF
			Error: Implicit setup.py file support has been sunset.

			Your app has a 'setup.py' file but no package manager file.
			Installing an app from its setup.py without one is no longer
			supported. Add a 'requirements.txt' that installs the project
			itself:

			   $ echo "--editable ." > requirements.txt
			   $ git add requirements.txt && git commit -m "Add requirements.txt"

			Or move to a package manager with a lockfile, such as uv.
		EOF
	fi

	utils::fail package-manager::none-found <<-EOF
		Error: Couldn't find any supported Python package manager files.

		$(detect::no_project_files_message "${build_dir}")
	EOF
}

# Calls <function> of <tool>'s file in lib/package_managers/ (see the list at the top).
function package_manager::call() {
	local tool="${1}" name="${2}"
	shift 2
	case "${tool}" in
		pip | pipenv | poetry | uv) "${tool}::${name}" "$@" ;;
		*)
			utils::fail internal-error::unknown-package-manager <<-EOF
				Internal error: Unknown package manager '${tool}'.

				This is a problem with the buildpack, not your app. Please
				report it to the operator of this build server.
			EOF
			;;
	esac
}
