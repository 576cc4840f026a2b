"""Pipenv: exports Pipfile.lock's [packages] as pip requirements, as `pipenv requirements` would.

Usage: python3 -I -B pipenv_export.py <app-dir> <out-dir>

A lock whose Pipfile hash doesn't match the Pipfile next to it is refused as out of date, as
`pipenv install --deploy` does. Files, summary and exit codes: see lockfile_export.py.
"""

import hashlib
import json
import os
import sys

# Run as a script with -I, which leaves this folder off sys.path: the shared part is beside it.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lockfile_export import EXIT_OUT_OF_SYNC, Entry, LockfileError, canonical, invalid, local_target, read_toml, run  # noqa: E402


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


if __name__ == "__main__":
    sys.exit(run(sys.argv, "pipenv", pipenv_entries))
