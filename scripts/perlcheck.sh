#!/usr/bin/env bash
# Compiles every Perl program in the project twice: as it is (`perl -c`), and with strict and
# warnings on (`perl -Mstrict -Mwarnings -c`), since the pre-receive hook can't afford to load
# warnings at run time (every push would pay for it) but must stay clean under it.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(
  git ls-files --cached --others --exclude-standard -- . ':!node_modules' \
    | while read -r f; do
        [ -f "$f" ] || continue
        case "$f" in
          *.pl | *.pm) echo "$f" ;;
        esac
      done
)
if [ "${#files[@]}" -eq 0 ]; then
  echo "perl -c: no Perl programs"
  exit 0
fi
# perl -c prints "<file> syntax OK" and nothing else for a clean program; anything more is a warning.
check() {
  local f="$1" out
  shift
  if ! out="$(perl "$@" -c "$f" 2>&1)" || [ "$out" != "$f syntax OK" ]; then
    printf '%s\n' "$out" >&2
    echo "perl${*:+ $*} -c: $f is not clean" >&2
    exit 1
  fi
}
for f in "${files[@]}"; do
  check "$f"
  check "$f" -Mstrict -Mwarnings
done
echo "perl -c: ${#files[@]} files clean"
