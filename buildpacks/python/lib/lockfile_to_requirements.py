"""Turns a Pipenv, Poetry or uv lockfile into requirements files for pip.

Usage: python3 lockfile_to_requirements.py <pipenv|poetry|uv> <app-dir> <out-dir>

Writes what `pipenv requirements`, `poetry export --only main` or `uv export --no-dev` would:
only the default / main dependencies, each pinned to its locked version with the lockfile's
hashes. Two files go into <out-dir>:

  requirements.txt  packages from an index, `name==version ; marker --hash=sha256:...`
  local.txt         the app's own and path / VCS packages (no single file to hash), for a
                    second `pip install --no-deps` (every dependency is in requirements.txt)

Hashes are written only when every entry of requirements.txt has some: pip then checks all of
them (its hash-checking mode), and refuses entries without one, so a partly hashed lockfile
is installed unchecked instead (the summary says which entries lack hashes).

On stdout, "key=value" lines for bin/compile: packages, hashed (1|0), unhashed, excluded, local.
Failures exit with 2 (the lockfile can't be read), 3 (it is out of date with the project
file next to it) or 4 (an entry this buildpack can't install), the reason on stderr.
Runs on the build image's python3 (3.11+ for tomllib), with the standard library only.
"""

import hashlib
import json
import os
import re
import sys
import tomllib

EXIT_INVALID = 2
EXIT_OUT_OF_SYNC = 3
EXIT_UNSUPPORTED = 4
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


# ---- Pipenv -------------------------------------------------------------------------------------


def pipfile_hashes(app_dir):
    """The hashes Pipenv may have recorded for the Pipfile: newer releases canonicalise package
    names before hashing, older ones don't; a lock written by either is in sync."""
    data = read_toml(os.path.join(app_dir, "Pipfile"))
    if "source" not in data:
        data["source"] = [{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}]
    sections = {"source", "packages", "dev-packages", "requires", "scripts", "pipfile", "pipenv"}
    results = []
    for normalise in (lambda s: s, lambda s: {canonical(k): v for k, v in s.items()}):
        meta = {
            "_meta": {"sources": data["source"], "requires": data.get("requires", {})},
            "default": normalise(data.get("packages", {})),
            "develop": normalise(data.get("dev-packages", {})),
        }
        for category, values in data.items():
            if category not in sections and category not in ("default", "develop") and isinstance(values, dict):
                meta[category] = normalise(values)
        content = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")
        results.append(hashlib.sha256(content).hexdigest())
    return results


def pipenv_entries(app_dir):
    path = os.path.join(app_dir, "Pipfile.lock")
    try:
        with open(path, encoding="utf-8") as f:
            lock = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise invalid(f"'Pipfile.lock' isn't valid JSON: {e}") from e
    if not isinstance(lock, dict) or not isinstance(lock.get("default", {}), dict):
        raise invalid("'Pipfile.lock' has no \"default\" section of packages.")

    if os.path.isfile(os.path.join(app_dir, "Pipfile")):
        locked = str(((lock.get("_meta") or {}).get("hash") or {}).get("sha256", ""))
        expected = pipfile_hashes(app_dir)
        if locked not in expected:
            raise LockfileError(
                EXIT_OUT_OF_SYNC,
                f"Pipfile.lock ({locked[-6:] or 'no hash'}) is out of date: the Pipfile's hash is ({expected[-1][-6:]}).",
            )

    entries = []
    for name, spec in sorted(lock.get("default", {}).items()):
        if not isinstance(spec, dict):
            raise invalid(f"the entry for '{name}' in Pipfile.lock isn't an object.")
        marker = spec.get("markers")
        extras = spec.get("extras", [])
        editable = bool(spec.get("editable"))
        if "path" in spec or "file" in spec:
            where = spec.get("path") or spec.get("file")
            target = where if "://" in where else local_target(app_dir, where)
            entries.append(Entry(name, marker=marker, extras=extras, target=target, editable=editable))
        elif any(vcs in spec for vcs in ("git", "hg", "svn", "bzr")):
            vcs = next(v for v in ("git", "hg", "svn", "bzr") if v in spec)
            url = spec[vcs]
            url = url if url.startswith(f"{vcs}+") else f"{vcs}+{url}"
            if spec.get("ref"):
                url += f"@{spec['ref']}"
            url += f"#egg={name}" if editable else ""
            if spec.get("subdirectory"):
                url += f"{'&' if editable else '#'}subdirectory={spec['subdirectory']}"
            entries.append(Entry(name, marker=marker, extras=extras, target=url, editable=editable))
        else:
            version = str(spec.get("version", ""))
            if not version.startswith("=="):
                raise invalid(f"the entry for '{name}' in Pipfile.lock has no exact \"version\" (\"=={version or '?'}\").")
            entries.append(Entry(name, version[2:], spec.get("hashes", []), marker, extras))
    excluded = sorted(set(lock.get("develop", {})) - set(lock.get("default", {})))
    return entries, excluded


# ---- graph walks (uv, and Poetry locks without groups) -----------------------------------------


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


# ---- Poetry -------------------------------------------------------------------------------------


def poetry_root_dependencies(pyproject):
    """(name, marker, extras) of the main dependencies, from [project] and [tool.poetry]."""
    roots = []
    for requirement in (pyproject.get("project") or {}).get("dependencies", []) or []:
        parsed = pep508_name(str(requirement))
        if parsed:
            roots.append((parsed[0], parsed[2], parsed[1]))
    poetry = (pyproject.get("tool") or {}).get("poetry") or {}
    for name, spec in (poetry.get("dependencies") or {}).items():
        if name == "python":
            continue
        for constraint in spec if isinstance(spec, list) else [spec]:
            if isinstance(constraint, dict):
                if constraint.get("optional"):
                    continue
                roots.append((canonical(name), constraint.get("markers"), [canonical(e) for e in constraint.get("extras", [])]))
            else:
                roots.append((canonical(name), None, []))
    return roots


def poetry_entry(app_dir, package, hashes, marker):
    name, version = package["name"], str(package.get("version", ""))
    source = package.get("source") or {}
    kind = source.get("type")
    if kind in (None, "legacy"):
        if not version:
            raise invalid(f"the package '{name}' in poetry.lock has no version.")
        return Entry(name, version, hashes, marker)
    url = str(source.get("url", ""))
    if kind == "directory":
        return Entry(name, marker=marker, target=local_target(app_dir, url), editable=bool(package.get("develop")))
    if kind == "file":
        return Entry(name, marker=marker, target=url if "://" in url else local_target(app_dir, url))
    if kind == "url":
        return Entry(name, marker=marker, target=url)
    if kind == "git":
        ref = source.get("resolved_reference") or source.get("reference") or ""
        target = f"git+{url}" + (f"@{ref}" if ref else "")
        if source.get("subdirectory"):
            target += f"#subdirectory={source['subdirectory']}"
        return Entry(name, marker=marker, target=target, editable=bool(package.get("develop")))
    raise LockfileError(EXIT_UNSUPPORTED, f"the package '{name}' in poetry.lock comes from a '{kind}' source, which this buildpack can't install.")


def poetry_entries(app_dir):
    lock = read_toml(os.path.join(app_dir, "poetry.lock"))
    packages = lock.get("package", [])
    if not isinstance(packages, list) or not all(isinstance(p, dict) and "name" in p for p in packages):
        raise invalid("'poetry.lock' has no valid [[package]] entries.")
    metadata_files = (lock.get("metadata") or {}).get("files") or {}

    def hashes_of(package):
        files = package.get("files")
        if files is None:
            files = metadata_files.get(package["name"], [])
        return [f["hash"] for f in files if isinstance(f, dict) and f.get("hash")]

    by_name = {canonical(p["name"]): p for p in packages}
    chosen = {}
    if any("groups" in p for p in packages):
        # Poetry 2: each package lists its groups, and its markers (one string, or one per group).
        for p in packages:
            if "main" not in p.get("groups", []) or p.get("optional"):
                continue
            marker = p.get("markers")
            if isinstance(marker, dict):
                marker = marker.get("main")
            chosen[canonical(p["name"])] = marker
    else:
        # Poetry 1.x: no groups in the lock; walk the main dependencies from pyproject.toml.
        pyproject_path = os.path.join(app_dir, "pyproject.toml")
        if not os.path.isfile(pyproject_path):
            raise invalid("'poetry.lock' was found without the 'pyproject.toml' that says which dependencies are the main ones.")
        roots = poetry_root_dependencies(read_toml(pyproject_path))

        def children(key, extras):
            package = by_name.get(key, {})
            optional_wanted = set()
            for extra in extras:
                for requirement in (package.get("extras") or {}).get(extra, []):
                    optional_wanted.add(canonical(re.split(r"[\s(\[<>=!~;]", requirement.strip(), maxsplit=1)[0]))
            for name, spec in (package.get("dependencies") or {}).items():
                for constraint in spec if isinstance(spec, list) else [spec]:
                    c = constraint if isinstance(constraint, dict) else {}
                    if c.get("optional") and canonical(name) not in optional_wanted:
                        continue
                    yield canonical(name), c.get("markers"), [canonical(e) for e in c.get("extras", [])]

        markers, _ = walk(roots, children)
        chosen = {k: m for k, m in markers.items() if k in by_name}

    missing = check_roots_locked(app_dir, "poetry.lock", by_name)
    if missing:
        raise missing
    entries = [poetry_entry(app_dir, by_name[k], hashes_of(by_name[k]), m) for k, m in sorted(chosen.items())]
    excluded = sorted(p["name"] for p in packages if canonical(p["name"]) not in chosen)
    return entries, excluded


def check_roots_locked(app_dir, lockfile, by_name):
    """An out-of-sync error when pyproject.toml names a main dependency the lockfile lacks."""
    pyproject_path = os.path.join(app_dir, "pyproject.toml")
    if not os.path.isfile(pyproject_path):
        return None
    roots = poetry_root_dependencies(read_toml(pyproject_path))
    absent = sorted({name for name, _, _ in roots if name not in by_name})
    if absent:
        return LockfileError(
            EXIT_OUT_OF_SYNC,
            f"pyproject.toml depends on {', '.join(absent)}, which {lockfile} doesn't have.",
        )
    return None


# ---- uv -----------------------------------------------------------------------------------------


def uv_entries(app_dir):
    lock = read_toml(os.path.join(app_dir, "uv.lock"))
    packages = lock.get("package", [])
    if not isinstance(packages, list) or not all(isinstance(p, dict) and "name" in p for p in packages):
        raise invalid("'uv.lock' has no valid [[package]] entries.")
    by_name = {}
    for p in packages:
        by_name.setdefault(canonical(p["name"]), []).append(p)

    def is_member(p):
        source = p.get("source") or {}
        return source.get("virtual") == "." or source.get("editable") == "."

    members = {canonical(m) for m in (lock.get("manifest") or {}).get("members", [])}
    roots = [p for p in packages if is_member(p) or (canonical(p["name"]) in members and ("virtual" in (p.get("source") or {}) or "editable" in (p.get("source") or {})))]
    if not roots:
        raise invalid("'uv.lock' has no entry for the project itself (a package with source = { virtual = \".\" } or { editable = \".\" }).")

    def key_of(p):
        return (canonical(p["name"]), str(p.get("version", "")))

    index = {key_of(p): p for p in packages}

    def edges(dependencies):
        for d in dependencies or []:
            candidates = [p for p in by_name.get(canonical(d.get("name", "")), []) if "version" not in d or str(p.get("version")) == str(d["version"])]
            if not candidates:
                raise invalid(f"'uv.lock' refers to '{d.get('name')}', which it doesn't list.")
            for p in candidates:
                yield key_of(p), d.get("marker"), [canonical(e) for e in d.get("extra", [])]

    def children(key, extras):
        p = index[key]
        yield from edges(p.get("dependencies"))
        for extra in extras:
            yield from edges((p.get("optional-dependencies") or {}).get(extra, []))

    markers, _ = walk([(key_of(r), None, []) for r in roots], children)

    entries = []
    for key, marker in sorted(markers.items()):
        p = index[key]
        source = p.get("source") or {}
        name, version = p["name"], str(p.get("version", ""))
        hashes = [w["hash"] for w in p.get("wheels", []) if w.get("hash")]
        if (p.get("sdist") or {}).get("hash"):
            hashes.append(p["sdist"]["hash"])
        if "virtual" in source:
            continue
        if "registry" in source:
            entries.append(Entry(name, version, hashes, marker))
        elif "editable" in source:
            entries.append(Entry(name, marker=marker, target=local_target(app_dir, source["editable"]), editable=True))
        elif "directory" in source or "path" in source:
            where = source.get("directory") or source.get("path")
            entries.append(Entry(name, marker=marker, target=local_target(app_dir, where)))
        elif "git" in source:
            url, _, commit = source["git"].partition("#")
            base, _, query = url.partition("?")
            params = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
            target = f"git+{base}@{commit or params.get('rev') or params.get('tag') or params.get('branch', '')}"
            if params.get("subdirectory"):
                target += f"#subdirectory={params['subdirectory']}"
            entries.append(Entry(name, marker=marker, target=target))
        elif "url" in source:
            entries.append(Entry(name, marker=marker, target=source["url"]))
        else:
            raise LockfileError(EXIT_UNSUPPORTED, f"the package '{name}' in uv.lock has a source this buildpack doesn't know: {source}.")
    check_uv_in_sync(app_dir, roots)
    excluded = sorted({p["name"] for p in packages if key_of(p) not in markers})
    return entries, excluded


def check_uv_in_sync(app_dir, roots):
    """`uv sync --locked` refuses a lock whose record of the project's dependencies differs from
    pyproject.toml; compared here by name (the specifiers are normalised differently)."""
    pyproject_path = os.path.join(app_dir, "pyproject.toml")
    root = next((r for r in roots if (r.get("source") or {}).get("virtual", (r.get("source") or {}).get("editable")) == "."), None)
    if root is None or not os.path.isfile(pyproject_path):
        return
    parsed = [pep508_name(str(d)) for d in (read_toml(pyproject_path).get("project") or {}).get("dependencies", []) or []]
    declared = {d[0] for d in parsed if d}
    locked = {
        canonical(d.get("name", ""))
        for d in (root.get("metadata") or {}).get("requires-dist", [])
        if "extra ==" not in str(d.get("marker", ""))
    }
    added, removed = sorted(declared - locked), sorted(locked - declared)
    if added or removed:
        changes = [f"added {', '.join(added)}"] if added else []
        changes += [f"removed {', '.join(removed)}"] if removed else []
        raise LockfileError(EXIT_OUT_OF_SYNC, f"pyproject.toml's dependencies changed since uv.lock was written ({'; '.join(changes)}).")


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


def main(argv):
    if len(argv) != 4 or argv[1] not in ("pipenv", "poetry", "uv"):
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 64
    manager, app_dir, out_dir = argv[1:]
    try:
        entries, excluded = {"pipenv": pipenv_entries, "poetry": poetry_entries, "uv": uv_entries}[manager](app_dir)
    except LockfileError as e:
        print(str(e), file=sys.stderr)
        return e.code
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        print(f"an entry has an unexpected shape ({type(e).__name__}: {e}).", file=sys.stderr)
        return EXIT_INVALID
    write(out_dir, entries, excluded)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
