#!/usr/bin/env bash
# The app's own bin/pre_compile and bin/post_compile scripts.

# Runs bin/<name> from the app when it exists, with the config vars exported; fails the build
# when it exits non-zero.
function hooks::run() {
	local name="${1}"
	local script="bin/${name}"
	[[ -f "${BUILD_DIR}/${script}" ]] || return 0
	output::step "Running ${script} hook"
	chmod +x "${BUILD_DIR}/${script}"
	local status=0
	(
		cd "${BUILD_DIR}"
		utils::export_env_dir "${ENV_DIR}"
		"./${script}" |& output::indent
		exit "${PIPESTATUS[0]}"
	) || status=$?
	if ((status != 0)); then
		utils::fail "hooks::${name}" <<-EOF
			Error: Failed to run the ${script} script.

			The '${script}' script in your app exited with status
			${status}. See its output above. Fix the script (or the
			problem it reports) and push again.
		EOF
	fi
}
