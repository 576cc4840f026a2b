#!/usr/bin/env bash
# Usage: bench/fresh-machine.sh [--runs N] [--check] [--keep] [--rev REV]
#
# Times the README on a machine that has never seen slugforge: its two set-up commands
# (`npm install && npm start`) in a fresh clone of this checkout's HEAD, then its first push (the
# python-stdlib sample, `git push paas main`) until the push exits with the release made.
# Target: 240 s from `npm install` to the end of the push, on 2 cores (slugforge issue #17).
#
# What stands for "fresh" here, where the machine is shared and already set up:
#   - npm: an empty cache (npm_config_cache in a temp folder), so every package is downloaded
#     and better-sqlite3 is compiled, as on a new machine;
#   - Docker: an engine of the script's own (its own socket, data root and exec root in a temp
#     folder, an empty daemon.json, and a bridge of its own, `sff` + 6 hex digits on a private
#     /24, no iptables: `--bridge none` would make dockerd delete the host's docker0, the main
#     engine's), with no images, so setup makes both stack images; it is started before the
#     clock starts, and its start is timed and added;
#   - debootstrap: an empty .deb cache (the clone's own .slugforge folder).
# Not measured: installing docker.io and debootstrap themselves (apt-get), which this machine
# cannot undo; on a machine without dockerd, setup installs docker.io while debootstrap runs.
#
# Prints each run's phases and total, then the median, min and max; --check exits 1 when the
# median total is over the target. --keep leaves the temp folders. --rev times another commit of
# this repository (the clone checks it out; the script itself stays this one), e.g. a "before".
# Needs root (dockerd, chroot).

set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_S=240
RUNS=2
CHECK=0
KEEP=0
REV=""

function fresh::usage() {
	sed -n '2,3p' "${BASH_SOURCE[0]}" | sed 's/^# //'
}

while [[ $# -gt 0 ]]; do
	case "$1" in
	--runs)
		RUNS="${2:?--runs needs a number}"
		shift 2
		;;
	--check)
		CHECK=1
		shift
		;;
	--keep)
		KEEP=1
		shift
		;;
	--rev)
		REV="${2:?--rev needs a commit}"
		shift 2
		;;
	-h | --help)
		fresh::usage
		exit 0
		;;
	*)
		echo "fresh-machine: unknown option $1" >&2
		fresh::usage >&2
		exit 2
		;;
	esac
done

if [[ $(id -u) -ne 0 ]]; then
	echo "fresh-machine: run it as root (it starts its own dockerd and setup uses chroot)" >&2
	exit 2
fi
for tool in dockerd docker git curl npm node ip; do
	command -v "$tool" >/dev/null || {
		echo "fresh-machine: $tool is missing; run \`npm start\` once (it installs docker.io) or install it" >&2
		exit 2
	}
done

function fresh::now() { date +%s.%N; }
function fresh::since() { awk -v a="$(fresh::now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

TMP=""
SERVER_PID=""
BRIDGE=""
function fresh::cleanup() {
	if [[ -n "$SERVER_PID" ]]; then
		kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
		sleep 2
		kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	fi
	if [[ -n "$TMP" && -f "$TMP/dockerd.pid" ]]; then
		local pid
		pid="$(cat "$TMP/dockerd.pid")"
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
	fi
	if [[ -n "$BRIDGE" ]]; then
		ip link del "$BRIDGE" 2>/dev/null || true
		BRIDGE=""
	fi
	if [[ -n "$TMP" && $KEEP -eq 0 ]]; then
		# The engine's overlay mounts go with it; anything left mounted under the folder is unmounted first.
		grep -o " $TMP/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
		rm -rf --one-file-system "$TMP"
	fi
	TMP=""
}
trap fresh::cleanup EXIT
trap 'exit 130' INT TERM

# One run: sets RESULT to "engine npm_install start_to_ready push total", in seconds.
RESULT=""
function fresh::run() {
	local n="$1"
	TMP="$(mktemp -d /tmp/sf-fresh.XXXXXX)"
	local sock="$TMP/engine.sock"
	export DOCKER_HOST="unix://$sock"

	local hex
	hex="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
	BRIDGE="sff$hex"
	ip link add name "$BRIDGE" type bridge
	ip addr add "10.198.$((16#${hex:0:2})).1/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	echo "{}" >"$TMP/daemon.json"

	local t0
	t0="$(fresh::now)"
	dockerd -H "$DOCKER_HOST" --data-root "$TMP/engine" --exec-root "$TMP/x" --pidfile "$TMP/dockerd.pid" \
		--config-file "$TMP/daemon.json" --bridge "$BRIDGE" --iptables=false --ip-masq=false --ip-forward=false \
		>"$TMP/dockerd.log" 2>&1 &
	until docker version >/dev/null 2>&1; do
		sleep 0.2
		if [[ $(fresh::since "$t0" | cut -d. -f1) -ge 60 ]]; then
			echo "fresh-machine: the run's dockerd did not answer in 60 s; see $TMP/dockerd.log" >&2
			return 1
		fi
	done
	local engine_s
	engine_s="$(fresh::since "$t0")"

	git clone -q "$REPO_DIR" "$TMP/clone"
	cd "$TMP/clone"
	if [[ -n "$REV" ]]; then git checkout -q "$REV"; fi
	export npm_config_cache="$TMP/npm-cache"
	local port
	port="$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
	echo "[run $n] $(git log -1 --format='%h %s' | cut -c1-70); engine answered in ${engine_s} s; port $port" >&2

	# The clock: the README's commands from here.
	local start
	start="$(fresh::now)"
	npm install >"$TMP/npm-install.log" 2>&1 || {
		echo "fresh-machine: npm install failed; see $TMP/npm-install.log" >&2
		return 1
	}
	local install_s
	install_s="$(fresh::since "$start")"
	echo "[run $n] npm install: ${install_s} s" >&2

	local started
	started="$(fresh::now)"
	PORT="$port" setsid npm start >"$TMP/npm-start.log" 2>&1 &
	SERVER_PID=$!
	until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
		if ! kill -0 "$SERVER_PID" 2>/dev/null; then
			echo "fresh-machine: npm start exited; see $TMP/npm-start.log" >&2
			tail -n 20 "$TMP/npm-start.log" >&2
			return 1
		fi
		sleep 0.2
	done
	local ready_s
	ready_s="$(fresh::since "$started")"
	sed -n '/^setup steps:/,/^setup: done/p' "$TMP/npm-start.log" | sed "s/^/[run $n]   /" >&2
	echo "[run $n] npm start until the server answers: ${ready_s} s" >&2

	# The README's first push, as written there.
	local pushed
	pushed="$(fresh::now)"
	local token
	token="$(cat .slugforge/token)"
	cp -r test/fixtures/apps/python-stdlib "$TMP/my-python-app"
	(
		cd "$TMP/my-python-app"
		git init -q -b main && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -qm "First"
		git remote add paas "http://git:$token@127.0.0.1:$port/my-app.git"
		git push paas main
	) >"$TMP/push.log" 2>&1 || {
		echo "fresh-machine: the push failed; see $TMP/push.log" >&2
		tail -n 20 "$TMP/push.log" >&2
		return 1
	}
	grep -q "Released v1" "$TMP/push.log" || {
		echo "fresh-machine: the push exited 0 without \"Released v1\"; see $TMP/push.log" >&2
		return 1
	}
	local push_s total_s
	push_s="$(fresh::since "$pushed")"
	total_s="$(awk -v a="$(fresh::since "$start")" -v b="$engine_s" 'BEGIN { printf "%.1f", a + b }')"
	echo "[run $n] first push until released: ${push_s} s" >&2
	cd "$REPO_DIR"
	fresh::cleanup
	RESULT="$(printf '%.1f %.1f %.1f %.1f %.1f' "$engine_s" "$install_s" "$ready_s" "$push_s" "$total_s")"
}

results=()
for n in $(seq 1 "$RUNS"); do
	fresh::run "$n"
	line="$RESULT"
	results+=("$line")
	echo "[run $n] total $(echo "$line" | cut -d' ' -f5) s (1-minute load average $(cut -d' ' -f1 /proc/loadavg))" >&2
done

echo
echo "fresh machine to first release, $RUNS run(s), $(nproc) cores, seconds:"
printf '%8s %12s %16s %11s %8s\n' engine "npm install" "npm start ready" "first push" total
for line in "${results[@]}"; do
	read -r e i r p t <<<"$line"
	printf '%8s %12s %16s %11s %8s\n' "$e" "$i" "$r" "$p" "$t"
done
median="$(printf '%s\n' "${results[@]}" | cut -d' ' -f5 | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')"
spread="$(printf '%s\n' "${results[@]}" | cut -d' ' -f5 | sort -n | awk 'NR==1 {min=$1} {max=$1} END {print min "-" max}')"
echo "total: median $median s (min-max $spread), target <= $TARGET_S s"
if [[ $CHECK -eq 1 ]] && awk -v m="$median" -v t="$TARGET_S" 'BEGIN { exit !(m > t) }'; then
	echo "target missed" >&2
	exit 1
fi
