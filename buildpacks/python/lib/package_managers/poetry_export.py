"""Poetry: exports poetry.lock's main group as pip requirements, as `poetry export --only main`
would.

Usage: python3 -I -B poetry_export.py <app-dir> <out-dir>

Poetry 2 locks list each package's groups; Poetry 1.x locks don't, so the main dependencies are
walked from pyproject.toml. A main dependency pyproject.toml names but the lock lacks is refused
as out of date. Files, summary and exit codes: see lockfile_export.py.
"""

import re
import os
import sys

# Run as a script with -I, which leaves this folder off sys.path: the shared part is beside it.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lockfile_export import (  # noqa: E402
    EXIT_OUT_OF_SYNC,
    EXIT_UNSUPPORTED,
    Entry,
    LockfileError,
    canonical,
    invalid,
    local_target,
    pep508_name,
    read_toml,
    run,
    walk,
)


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


if __name__ == "__main__":
    sys.exit(run(sys.argv, "poetry", poetry_entries))
