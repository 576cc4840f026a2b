# shellcheck shell=bash
# Written by the Python buildpack: a WEB_CONCURRENCY default (gunicorn's worker count) from the
# memory and CPUs the container may use. An app sets WEB_CONCURRENCY itself to override it.

python_buildpack::memory_limit_mb() {
	local bytes=""
	if [[ -r /sys/fs/cgroup/memory.max ]]; then
		bytes="$(cat /sys/fs/cgroup/memory.max)" # cgroup v2; "max" when unlimited
	elif [[ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
		bytes="$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)" # cgroup v1
	fi
	# No limit (or an absurd one, as cgroup v1 reports): use the machine's memory.
	if [[ ! "${bytes}" =~ ^[0-9]+$ ]] || ((bytes > 1099511627776)); then
		bytes="$(awk '/^MemTotal:/ { print $2 * 1024 }' /proc/meminfo 2>/dev/null)"
	fi
	[[ "${bytes}" =~ ^[0-9]+$ ]] && echo $((bytes / 1048576))
}

python_buildpack::set_web_concurrency() {
	local ram_mb cpus by_memory by_cpu
	ram_mb="$(python_buildpack::memory_limit_mb)"
	if [[ -z "${ram_mb}" ]]; then
		echo "Python buildpack: Couldn't determine available memory. Not setting WEB_CONCURRENCY." >&2
		return 0
	fi
	export DYNO_RAM="${ram_mb}"
	if [[ -n "${WEB_CONCURRENCY:-}" ]]; then
		return 0
	fi
	cpus="$(nproc 2>/dev/null || echo 1)"
	by_memory=$((ram_mb / 256))
	((by_memory < 1)) && by_memory=1
	by_cpu=$((cpus * 2 + 1))
	if ((by_memory < by_cpu)); then
		export WEB_CONCURRENCY="${by_memory}"
	else
		export WEB_CONCURRENCY="${by_cpu}"
	fi
	export WEB_CONCURRENCY_SET_BY="python-buildpack"
	if [[ "${DYNO:-}" == web* ]]; then
		echo "Python buildpack: ${ram_mb} MB of memory and ${cpus} CPUs: WEB_CONCURRENCY=${WEB_CONCURRENCY}" >&2
	fi
}

python_buildpack::set_web_concurrency
unset -f python_buildpack::memory_limit_mb python_buildpack::set_web_concurrency
