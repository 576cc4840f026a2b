#!/usr/bin/env bash
# Runs shellcheck over every shell script and buildpack executable in the project.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then
    echo "shellcheck: missing; installing Debian's package" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends shellcheck >/dev/null \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends shellcheck >/dev/null; }
  else
    echo "shellcheck is not installed: apt-get install shellcheck (as root)" >&2
    exit 1
  fi
fi

mapfile -t files < <(
  git ls-files --cached --others --exclude-standard -- . ':!node_modules' \
    | while read -r f; do
        [ -f "$f" ] || continue
        case "$f" in
          *.sh | .ci/run) echo "$f" ;;
          *.ts | *.js | *.json | *.md | *.py | *.txt | *.yml | *.yaml | *.toml | *.lock) ;;
          *) head -c 64 "$f" | head -n1 | grep -qE '^#!.*[/ ](ba)?sh$' && echo "$f" ;;
        esac
      done
)
if [ "${#files[@]}" -eq 0 ]; then
  echo "shellcheck: no shell scripts"
  exit 0
fi
shellcheck -x "${files[@]}"
echo "shellcheck: ${#files[@]} files clean"
