"""What the Pipenv, Poetry and uv lockfile exports share (pipenv_export.py, poetry_export.py,
uv_export.py beside this file import it).

Each export writes what `pipenv requirements`, `poetry export --only main` or `uv export --no-dev`
would: only the default / main dependencies, each pinned to its locked version with the lockfile's
hashes. Two files go into <out-dir>:

  requirements.txt  packages from an index, `name==version ; marker --hash=sha256:...`
  local.txt         the app's own and path / VCS packages (no single file to hash), for a
                    second `pip install --no-deps` (every dependency is in requirements.txt)

Hashes are written only when every entry of requirements.txt has some: pip then checks all of
them (its hash-checking mode), and refuses entries without one, so a partly hashed lockfile
is installed unchecked instead (the summary says which entries lack hashes).

On stdout, "key=value" lines for bin/compile: packages, hashed (1|0), unhashed, excluded, local.
Failures exit with 2 (the lockfile can't be read), 3 (it is out of date with the project
file next to it) or 4 (an entry this buildpack can't install), the reason on stderr; 64 is a
wrong command line. Runs on the build image's python3 (3.11+ for tomllib), with the standard
library only.
"""

import os
import re
import sys
import tomllib

EXIT_INVALID = 2
EXIT_OUT_OF_SYNC = 3
EXIT_UNSUPPORTED = 4
EXIT_USAGE = 64
HASH_ALGORITHMS = ("sha256", "sha384", "sha512")


class LockfileError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def invalid(message):
    return LockfileError(EXIT_INVALID, message)


def canonical(name):
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


class Entry:
    """One package to install: pinned from an index (`version`), or a local/VCS `target`."""

    def __init__(self, name, version=None, hashes=(), marker=None, extras=(), target=None, editable=False):
        self.name = name
        self.version = version
        self.hashes = [h for h in hashes if h.split(":", 1)[0] in HASH_ALGORITHMS]
        self.marker = marker or None
        self.extras = sorted(set(extras))
        self.target = target
        self.editable = editable

    def requirement(self, with_hashes):
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        marker = f" ; {self.marker}" if self.marker else ""
        if self.target is not None:
            if self.editable:
                return f"-e {self.target}"
            if self.target.startswith("/"):
                return f"{self.target}{extras}{marker}"
            return f"{self.name}{extras} @ {self.target}{marker}"
        line = f"{self.name}{extras}=={self.version}{marker}"
        if with_hashes:
            line += "".join(f" \\\n    --hash={h}" for h in sorted(set(self.hashes)))
        return line


def read_toml(path):
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise invalid(f"'{os.path.basename(path)}' isn't valid TOML: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise invalid(f"'{os.path.basename(path)}' can't be read: {e}") from e


def local_target(app_dir, path):
    """An absolute path for a path dependency: pip reads relative ones from its own cwd."""
    return os.path.normpath(os.path.join(app_dir, path))


# ---- graph walks (uv, and Poetry locks without groups) ----------------------------------------


def walk(roots, children):
    """Packages reachable from roots. roots: [(key, marker, extras)]; children(key, extras) gives
    the same triples. A package's marker is the OR of the markers of the edges that reach it, or
    none when any edge is unconditional. (A parent's own marker isn't carried down: at worst
    pip installs a dependency of a package that a marker left out, never one too few.)"""
    markers = {}
    extras = {}
    queue = list(roots)
    while queue:
        key, marker, wanted = queue.pop()
        seen = key in markers
        old_markers = markers.setdefault(key, set())
        new_extras = set(wanted) - extras.setdefault(key, set())
        if seen and (None in old_markers or marker in old_markers) and not new_extras:
            continue
        old_markers.add(marker)
        extras[key] |= set(wanted)
        if seen and not new_extras:
            continue
        queue.extend(children(key, extras[key]))
    result = {}
    for key, ms in markers.items():
        result[key] = None if None in ms else " or ".join(f"({m})" for m in sorted(ms)) if len(ms) > 1 else next(iter(ms))
    return result, extras


def pep508_name(requirement):
    """(name, extras, marker) of a PEP 508 string; None for a line it can't read."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?[^;]*(?:;\s*(.+))?$", requirement)
    if not m:
        return None
    extras = [canonical(e.strip()) for e in (m.group(2) or "").split(",") if e.strip()]
    return canonical(m.group(1)), extras, (m.group(3) or "").strip() or None


# ---- output -------------------------------------------------------------------------------------


def write(out_dir, entries, excluded):
    pinned = [e for e in entries if e.target is None]
    local = [e for e in entries if e.target is not None]
    unhashed = [e.name for e in pinned if not e.hashes]
    with_hashes = bool(pinned) and not unhashed
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "requirements.txt"), "w", encoding="utf-8") as f:
        f.write("".join(e.requirement(with_hashes) + "\n" for e in pinned))
    with open(os.path.join(out_dir, "local.txt"), "w", encoding="utf-8") as f:
        f.write("".join(e.requirement(False) + "\n" for e in local))
    print(f"packages={len(entries)}")
    print(f"hashed={1 if with_hashes else 0}")
    print(f"unhashed={' '.join(unhashed)}")
    print(f"excluded={' '.join(excluded)}")
    print(f"local={' '.join(e.name for e in local)}")


def run(argv, tool, entries_of):
    """The command line of <tool>_export.py: `<app-dir> <out-dir>`; entries_of(app_dir) gives
    (entries, excluded names) or raises LockfileError."""
    if len(argv) != 3:
        print(f"Usage: python3 {tool}_export.py <app-dir> <out-dir>", file=sys.stderr)
        return EXIT_USAGE
    app_dir, out_dir = argv[1:]
    try:
        entries, excluded = entries_of(app_dir)
    except LockfileError as e:
        print(str(e), file=sys.stderr)
        return e.code
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        print(f"an entry has an unexpected shape ({type(e).__name__}: {e}).", file=sys.stderr)
        return EXIT_INVALID
    write(out_dir, entries, excluded)
    return 0
