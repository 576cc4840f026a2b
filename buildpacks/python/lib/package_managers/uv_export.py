"""uv: exports uv.lock's project dependencies as pip requirements, as `uv export --no-dev` would.

Usage: python3 -I -B uv_export.py <app-dir> <out-dir>

The project itself (a virtual or editable root) isn't installed, only what it depends on; a lock
whose record of the project's dependencies differs from pyproject.toml is refused as out of date,
as `uv sync --locked` does. Files, summary and exit codes: see lockfile_export.py.
"""

import os
import sys

# Run as a script with -I, which leaves this folder off sys.path: the shared part is beside it.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lockfile_export import EXIT_OUT_OF_SYNC, EXIT_UNSUPPORTED, Entry, LockfileError, canonical, invalid, local_target, pep508_name, read_toml, run, walk  # noqa: E402


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


if __name__ == "__main__":
    sys.exit(run(sys.argv, "uv", uv_entries))
