import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Mount } from "../../../src/docker/container-runtime.js";
import { createSessionBuilds, ensureWheelhouse, type SessionBuild } from "../../helpers/python-builds.js";
import { failureReason } from "../../helpers/failure-reason.js";

// Pipenv, Poetry and uv apps, installed by pip from their lockfiles' pinned, hashed entries (the
// tools themselves aren't available offline), from the Debian-built wheelhouse.
//
// The committed lockfiles (test/fixtures/apps/python-{pipenv,poetry,poetry-1x,uv}) are real in
// shape, but where a lockfile would hold the sha256 of a file on PyPI they hold a placeholder,
// `{{<wheel file name>}}`: the wheelhouse's wheels are rebuilt from Debian packages, so no real
// hash could match them. `lockfile()` below fills in the sha256 of the wheelhouse's file. (colorama
// keeps its real PyPI hashes: a Windows-only marker means it is never installed.)
const root = path.resolve(import.meta.dirname, "../../..");
const buildpackDir = path.join(root, "buildpacks/python");
const app = (name: string): string => path.join(root, "test/fixtures/apps", name);
const h = createSessionBuilds();
let mounts: Mount[];
let configVars: Record<string, string>;
let wheelHashes: Map<string, string>;

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const plain = (s: string | undefined): string => (s ?? "").replace(ANSI, "");
const SITE = ".heroku/python/lib/python3/dist-packages";

beforeAll(async () => {
  const wheelhouse = await ensureWheelhouse();
  mounts = [wheelhouse.mount];
  configVars = wheelhouse.configVars;
  wheelHashes = new Map();
  for (const name of (await readdir(wheelhouse.dir)).filter((n) => n.endsWith(".whl"))) {
    wheelHashes.set(name, createHash("sha256").update(await readFile(path.join(wheelhouse.dir, name))).digest("hex"));
  }
});
afterAll(() => h.cleanup());

/** A fixture's lockfile with each `{{wheel}}` placeholder replaced by that wheel's sha256. */
async function lockfile(appName: string, file: string, swap: Record<string, string> = {}): Promise<string> {
  const text = await readFile(path.join(app(appName), file), "utf8");
  return text.replace(/\{\{([^}]+\.whl)\}\}/g, (_, wheel: string) => {
    const hash = wheelHashes.get(swap[wheel] ?? wheel);
    if (!hash) throw new Error(`${appName}/${file}: no ${wheel} in the wheelhouse`);
    return hash;
  });
}

async function buildLocked(appName: string, file: string, extra: { cacheFrom?: SessionBuild; files?: Record<string, string> } = {}): Promise<SessionBuild> {
  return h.build({
    buildpackDir,
    appDir: app(appName),
    mounts,
    configVars,
    cacheFrom: extra.cacheFrom,
    files: { [file]: await lockfile(appName, file), ...extra.files },
  });
}

async function expectServes(build: SessionBuild, name: string): Promise<void> {
  const page = await h.boot(build);
  expect(page.status, page.log).toBe(200);
  expect(page.body).toBe(`hello from ${name} (Flask 3.1.1)\n`);
}

async function expectNoDevPackage(build: SessionBuild): Promise<void> {
  const files = await h.listSlug(build);
  expect(files).toContain(`${SITE}/flask/__init__.py`);
  expect(files).toContain(`${SITE}/gunicorn/__init__.py`);
  expect(files.filter((f) => f.startsWith(`${SITE}/six`))).toEqual([]);
}

describe("python buildpack: lockfile apps", () => {
  let uv: SessionBuild;

  it("Pipenv: installs Pipfile.lock's default packages with hashes, Python from Pipfile.lock", async () => {
    const build = await buildLocked("python-pipenv", "Pipfile.lock");
    console.log(`pipenv compile: ${build.compile?.ms} ms\n${build.compile?.output}`);
    expect(build.ok, build.compile?.output).toBe(true);
    const out = build.compile!.output;
    expect(out).toContain("-----> Using Python 3.13 specified in Pipfile.lock");
    expect(out).toContain("-----> Installing dependencies from Pipfile.lock using 'pip install --require-hashes'");
    expect(out).toContain("- 10 packages: the [packages] of the Pipfile, without [dev-packages]");
    expect(out).toContain("- Not installed (development or optional only): six");
    expect(out).toContain("Ignoring colorama: markers 'platform_system == \"Windows\"' don't match your environment");
    expect(out).toMatch(/Successfully installed .*flask-3\.1\.1/i);
    await expectNoDevPackage(build);
    await expectServes(build, "python-pipenv");
  });

  it("Poetry 2: installs poetry.lock's main group", async () => {
    const build = await buildLocked("python-poetry", "poetry.lock");
    console.log(`poetry compile: ${build.compile?.ms} ms\n${build.compile?.output}`);
    expect(build.ok, build.compile?.output).toBe(true);
    expect(build.compile!.output).toContain("-----> Installing dependencies from poetry.lock using 'pip install --require-hashes'");
    expect(build.compile!.output).toContain("- 10 packages: the main group, without other groups or extras");
    await expectNoDevPackage(build);
    await expectServes(build, "python-poetry");
  });

  it("Poetry 1.x: a lock without groups (category, [metadata.files]) walks pyproject.toml's main dependencies", async () => {
    const build = await buildLocked("python-poetry-1x", "poetry.lock");
    expect(build.ok, build.compile?.output).toBe(true);
    expect(build.compile!.output).toContain("- Not installed (development or optional only): six");
    await expectNoDevPackage(build);
    await expectServes(build, "python-poetry-1x");
  });

  it("uv: installs the project's dependencies, not the virtual project or its dev group", async () => {
    uv = await buildLocked("python-uv", "uv.lock");
    console.log(`uv compile: ${uv.compile?.ms} ms\n${uv.compile?.output}`);
    expect(uv.ok, uv.compile?.output).toBe(true);
    expect(uv.compile!.output).toContain("-----> Installing dependencies from uv.lock using 'pip install --require-hashes'");
    expect(uv.compile!.output).toContain("- 10 packages: the project's dependencies, without dev groups or extras");
    expect(uv.compile!.output).not.toContain("Installing the app's own");
    await expectNoDevPackage(uv);
    expect((await h.listSlug(uv)).filter((f) => f.includes("python_uv"))).toEqual([]);
    await expectServes(uv, "python-uv");
  });

  it("uv: an unchanged uv.lock reuses the cache; a changed one reinstalls, saying why", async () => {
    const warm = await buildLocked("python-uv", "uv.lock", { cacheFrom: uv });
    console.log(`uv warm compile: ${warm.compile?.ms} ms (cold ${uv.compile?.ms} ms)`);
    expect(warm.ok, warm.compile?.output).toBe(true);
    expect(warm.compile!.output).toContain("-----> Restoring cache");
    expect(warm.compile!.output).toContain("Skipping the dependency install: the cached packages match uv.lock");
    expect(warm.compile!.ms * 2).toBeLessThan(uv.compile!.ms);

    const changed = await buildLocked("python-uv", "uv.lock", {
      cacheFrom: uv,
      files: { "uv.lock": `${await lockfile("python-uv", "uv.lock")}\n` },
    });
    expect(changed.ok, changed.compile?.output).toBe(true);
    expect(changed.compile!.output).toContain("-----> Discarding cache since:\n       - The contents of uv.lock changed");
  });
});

describe("python buildpack: lockfile errors", () => {
  it("a file whose hash differs from the lockfile's fails, naming the package and what to do", async () => {
    const build = await h.build({
      buildpackDir,
      appDir: app("python-pipenv"),
      mounts,
      configVars,
      files: { "Pipfile.lock": await lockfile("python-pipenv", "Pipfile.lock", { "Flask-3.1.1-py3-none-any.whl": "six-1.17.0-py3-none-any.whl" }) },
    });
    expect(build.compile?.code).toBe(1);
    expect(build.compile!.output).toContain("THESE PACKAGES DO NOT MATCH THE HASHES");
    const err = plain(build.compile!.output);
    expect(err).toContain("Error: Package files don't match the hashes in Pipfile.lock.");
    expect(err).toContain(" !     flask==3.1.1\n");
    expect(err).toContain("$ pipenv lock");
    expect(failureReason(build.compile!.output)).toBe("install-dependencies::pipenv::hash-mismatch");
  });

  it.each([
    // (The app names no .python-version, so Pipfile.lock is read for its Python first: that stops at invalid JSON.)
    ["python-pipenv", "Pipfile.lock", '{"_meta": {', "'Pipfile.lock' isn't valid JSON", "$ pipenv lock", [], "pipfile-lock::invalid-json"],
    ["python-pipenv", "Pipfile.lock", '{"_meta": {}, "default": {"flask": {"hashes": []}}}', 'the entry for \'flask\' in Pipfile.lock has no exact "version"', "$ pipenv lock", ["Pipfile"], "lockfile::pipenv::invalid"],
    ["python-poetry", "poetry.lock", '[[package]]\nname = "flask"\nversion = ', "'poetry.lock' isn't valid TOML", "$ poetry lock", [], "lockfile::poetry::invalid"],
    ["python-uv", "uv.lock", 'version = 1\n[[package]]\nname = "flask"\nversion = "3.1.1"\nsource = { registry = "https://pypi.org/simple" }\n', "'uv.lock' has no entry for the project itself", "$ uv lock", [], "lockfile::uv::invalid"],
  ])("%s: a broken %s fails with what to do", async (appName, file, broken, reason, advice, omit, code) => {
    const build = await h.build({ buildpackDir, appDir: app(appName), mounts, configVars, files: { [file]: broken }, omit });
    expect(build.compile?.code).toBe(1);
    const err = plain(build.compile!.output);
    expect(err).not.toContain("Traceback");
    expect(err).toContain(`Error: Can't parse ${file}.`);
    expect(err).toContain(reason);
    expect(err).toContain(advice);
    expect(failureReason(build.compile!.output)).toBe(code);
  });

  it("Pipenv: a Pipfile changed after locking is refused as out of date (as pipenv install --deploy does)", async () => {
    const pipfile = (await readFile(path.join(app("python-pipenv"), "Pipfile"), "utf8")).replace('gunicorn = "*"', 'gunicorn = "*"\nrequests = "*"');
    const build = await h.build({
      buildpackDir,
      appDir: app("python-pipenv"),
      mounts,
      configVars,
      files: { Pipfile: pipfile, "Pipfile.lock": await lockfile("python-pipenv", "Pipfile.lock") },
    });
    expect(build.compile?.code).toBe(1);
    const err = plain(build.compile!.output);
    expect(err).toContain("Error: Pipfile.lock is out of date.");
    expect(err).toMatch(/Pipfile\.lock \(\w{6}\) is out of date: the Pipfile's hash is \(\w{6}\)/);
    expect(err).toContain("$ pipenv lock");
    expect(failureReason(build.compile!.output)).toBe("lockfile::pipenv::out-of-date");
  });

  it("uv: a dependency added to pyproject.toml but not locked is refused as out of date", async () => {
    const pyproject = (await readFile(path.join(app("python-uv"), "pyproject.toml"), "utf8")).replace('"gunicorn>=23",', '"gunicorn>=23",\n    "requests",');
    const build = await h.build({
      buildpackDir,
      appDir: app("python-uv"),
      mounts,
      configVars,
      files: { "pyproject.toml": pyproject, "uv.lock": await lockfile("python-uv", "uv.lock") },
    });
    expect(build.compile?.code).toBe(1);
    const err = plain(build.compile!.output);
    expect(err).toContain("Error: uv.lock is out of date.");
    expect(err).toContain("(added requests)");
    expect(err).toContain("$ uv lock");
    expect(failureReason(build.compile!.output)).toBe("lockfile::uv::out-of-date");
  });

  it("uv: an app without .python-version is refused, as uv needs to know its Python", async () => {
    const build = await h.build({
      buildpackDir,
      appDir: app("python-uv"),
      mounts,
      configVars,
      omit: [".python-version"],
      files: { "uv.lock": await lockfile("python-uv", "uv.lock") },
    });
    expect(build.compile?.code).toBe(1);
    const err = plain(build.compile!.output);
    expect(err).toContain("Error: No Python version was specified.");
    expect(err).toContain("$ uv python pin 3.13");
    expect(failureReason(build.compile!.output)).toBe("python-version-file::required-by-uv");
  });
});
