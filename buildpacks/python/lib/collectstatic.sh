#!/usr/bin/env bash
# Django's collectstatic, run when Django is installed and a manage.py is found.

function collectstatic::run() {
	local python_home="${1}"
	local disabled manage_py
	if [[ -f "${ENV_DIR}/DISABLE_COLLECTSTATIC" && -r "${ENV_DIR}/DISABLE_COLLECTSTATIC" ]]; then
		disabled="$(<"${ENV_DIR}/DISABLE_COLLECTSTATIC")"
	else
		disabled="${DISABLE_COLLECTSTATIC:-0}"
	fi
	if [[ -n "${disabled}" && "${disabled}" != "0" ]]; then
		output::step "Skipping Django collectstatic since the env var DISABLE_COLLECTSTATIC is set."
		return 0
	fi
	if ! "${python_home}/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("django") is None)' 2>/dev/null; then
		return 0
	fi
	manage_py="$(find . -maxdepth 3 -type f -name manage.py -printf '%d %p\n' | sort -n | head -n 1 | cut -d' ' -f2-)"
	if [[ -z "${manage_py}" ]]; then
		output::step "Skipping Django collectstatic since no manage.py file found."
		return 0
	fi
	manage_py="${manage_py#./}"
	output::step "\$ python ${manage_py} collectstatic --noinput"
	local status=0
	(
		utils::export_env_dir "${ENV_DIR}"
		export PYTHONPATH="${PYTHONPATH:-.}"
		"${python_home}/bin/python" "${manage_py}" collectstatic --noinput --traceback |& output::indent
		exit "${PIPESTATUS[0]}"
	) || status=$?
	echo
	if ((status != 0)); then
		utils::fail collectstatic::failed <<-EOF
			Error: Unable to generate Django static files.

			The 'python ${manage_py} collectstatic --noinput' Django
			management command to generate static files failed
			(exit status ${status}). See the traceback above.

			You may need to fix your app's settings (for example
			STATIC_ROOT) or code. Or, if the app doesn't need static
			files collected during the build, disable the step:

			   $ slugforge config:set DISABLE_COLLECTSTATIC=1
		EOF
	fi
}
