import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSessionBuilds, ensurePythonRuntimes, type SessionBuild } from "../../helpers/python-builds.js";
import type { Mount } from "../../../src/docker/container-runtime.js";
import { failureReason } from "../../helpers/failure-reason.js";

// Pythons the stack doesn't provide, from runtime archives an operator offers with
// PYTHON_RUNTIME_URL_TEMPLATE (+ PYTHON_RUNTIME_VERSIONS). The archive is a real other Python:
// 3.11 from Debian bookworm, made by scripts/make-python-runtime.sh and mounted read-only at
// /runtimes, as an operator would with SLUGFORGE_BUILD_MOUNTS. Builds and boots run with network none.
const root = path.resolve(import.meta.dirname, "../../..");
const buildpackDir = path.join(root, "buildpacks/python");
const appDir = path.join(root, "test/fixtures/apps/python-runtime-archive");
const h = createSessionBuilds();
const scratch: string[] = [];

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const plain = (s: string | undefined): string => (s ?? "").replace(ANSI, "");

let runtimes: Awaited<ReturnType<typeof ensurePythonRuntimes>>;
let version: string; // 3.11.x
let mounts: Mount[];

beforeAll(async () => {
  runtimes = await ensurePythonRuntimes();
  version = runtimes.versions.find((v) => v.startsWith("3.11.")) ?? "";
  expect(version).toMatch(/^3\.11\.\d+$/);
  mounts = [runtimes.mount];
});
afterAll(async () => {
  await h.cleanup();
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })));
});

/** A folder of runtimes holding the real archive with a checksum file that doesn't match it. */
async function tamperedRuntimes(): Promise<Mount> {
  await mkdir(path.join(root, ".slugforge"), { recursive: true });
  const dir = await mkdtemp(path.join(root, ".slugforge/runtimes-tampered-"));
  scratch.push(dir);
  await chmod(dir, 0o755); // the build runs as the stack's user
  const name = `python-${version}-debian-13.tar.gz`;
  await copyFile(path.join(runtimes.dir, name), path.join(dir, name));
  await writeFile(path.join(dir, `${name}.sha256`), `${"0".repeat(64)}  ${name}\n`);
  return { host: dir, container: "/runtimes", readOnly: true };
}

describe("python buildpack: a Python from a runtime archive", () => {
  let cold: SessionBuild;

  it("builds a .python-version 3.11 app against the archive, and the slug serves on the run image", async () => {
    cold = await h.build({ buildpackDir, appDir, mounts, configVars: runtimes.configVars });
    console.log(`runtime archive cold compile: ${cold.compile?.ms} ms\n${cold.compile?.output}`);
    expect(cold.ok, plain(cold.compile?.output)).toBe(true);
    const out = cold.compile!.output;
    expect(out).toContain("-----> Using Python 3.11 specified in .python-version");
    expect(out).toContain(`-----> Fetching the Python ${version} runtime archive`);
    expect(out).toContain(`Downloading file:///runtimes/python-${version}-debian-13.tar.gz`);
    expect(out).toMatch(/Verified sha256 [0-9a-f]{12} against python-3\.11\.\d+-debian-13\.tar\.gz\.sha256/);
    expect(out).toContain(`-----> Installing Python ${version} (from the runtime archive)`);
    expect(out).toMatch(/-----> Installing pip \d+/);

    const files = await h.listSlug(cold);
    expect(files).toContain(".heroku/python/bin/python3.11");
    expect(files).not.toContain(".heroku/python/bin/python3.13");
    expect(files).not.toContain(".heroku/python/lib/python3.11/EXTERNALLY-MANAGED");

    const page = await h.boot(cold);
    expect(page.status, page.log).toBe(200);
    expect(page.body).toContain(`hello from python-runtime-archive on Python ${version}\n`);
    expect(page.body).toContain("prefix /app/.heroku/python\n");
    expect(page.body).toContain("ssl=ok sqlite3=ok ctypes=ok decimal=ok hashlib=ok lzma=ok bz2=ok zlib=ok uuid=ok json=ok");
  });

  it("rebuilds from the cached archive and environment without downloading", async () => {
    const warm = await h.build({ buildpackDir, appDir, mounts, configVars: runtimes.configVars, cacheFrom: cold });
    console.log(`runtime archive warm compile: ${warm.compile?.ms} ms (cold ${cold.compile?.ms} ms)`);
    expect(warm.ok, plain(warm.compile?.output)).toBe(true);
    expect(warm.compile!.output).toMatch(/Using the cached runtime archive of file:\/\/\/runtimes\/python-3\.11\.\d+-debian-13\.tar\.gz/);
    expect(warm.compile!.output).not.toContain("Downloading");
    expect(warm.compile!.output).toContain(`-----> Using cached install of Python ${version}`);
  });

  it("sticks to the last build's 3.11 from the archive when .python-version goes away", async () => {
    const sticky = await h.build({ buildpackDir, appDir, mounts, configVars: runtimes.configVars, cacheFrom: cold, omit: [".python-version"] });
    expect(sticky.ok, plain(sticky.compile?.output)).toBe(true);
    expect(sticky.compile!.output).toContain("Using the same major version as the last build: Python 3.11");
    expect(sticky.compile!.output).toContain(`-----> Using cached install of Python ${version}`);
  });

  it("fetches an exact version when the operator lists no versions, and refuses a major-only request", async () => {
    const configVars = { PYTHON_RUNTIME_URL_TEMPLATE: runtimes.configVars.PYTHON_RUNTIME_URL_TEMPLATE! };
    const exact = await h.build({ buildpackDir, appDir, mounts, configVars, files: { ".python-version": `${version}\n` } });
    expect(exact.ok, plain(exact.compile?.output)).toBe(true);
    expect(exact.compile!.output).toContain(`-----> Installing Python ${version} (from the runtime archive)`);

    const major = await h.build({ buildpackDir, appDir, mounts, configVars });
    const err = plain(major.compile?.output);
    expect(major.ok).toBe(false);
    expect(err).toContain("can only be fetched by exact version (such as 3.11.1),");
    expect(err).toContain("- an exact version (X.Y.Z) that the runtime archive store has");
  });

  it("keeps using the stack's Python for the stack's version when the template is set: no download", async () => {
    const build = await h.build({
      buildpackDir,
      appDir,
      mounts,
      configVars: runtimes.configVars,
      files: { ".python-version": "3.13\n" },
    });
    expect(build.ok, plain(build.compile?.output)).toBe(true);
    expect(build.compile!.output).toMatch(/-----> Installing Python 3\.13\.\d+ \(from the stack's \/usr\/bin\/python3\.13\)/);
    expect(build.compile!.output).not.toContain("runtime archive");
    const page = await h.boot(build);
    expect(page.status, page.log).toBe(200);
    expect(page.body).toMatch(/on Python 3\.13\.\d+\n/);
  });
});

describe("python buildpack: runtime archive errors", () => {
  it("refuses 3.11 when no template is set, naming the stack's 3.13 as available", async () => {
    const build = await h.build({ buildpackDir, appDir });
    const err = plain(build.compile?.output);
    expect(build.ok).toBe(false);
    expect(err).toContain("Error: The requested Python version isn't available.");
    expect(err).toContain("Python 3.11 (from '.python-version') isn't provided by the");
    expect(err).toContain("this build server offers no other\n !     Python versions");
    expect(err).toMatch(/- 3\.13 \(Python 3\.13\.\d+\)/);
    expect(err).not.toContain("runtime archive)");
    expect(failureReason(build.compile?.output)).toBe("python-version::not-available");
  });

  it("refuses a version the archives don't offer, naming the stack's and the offered ones", async () => {
    const build = await h.build({ buildpackDir, appDir, mounts, configVars: runtimes.configVars, files: { ".python-version": "3.12\n" } });
    const err = plain(build.compile?.output);
    expect(build.ok).toBe(false);
    expect(err).toContain("nor by this build server's runtime archives.");
    expect(err).toMatch(/- 3\.13 \(Python 3\.13\.\d+\)/);
    expect(err).toContain(`- 3.11 (Python ${version}, from a runtime archive)`);
    expect(failureReason(build.compile?.output)).toBe("python-version::not-available");
  });

  it("fails clearly when the archive doesn't match its published checksum", async () => {
    const build = await h.build({ buildpackDir, appDir, mounts: [await tamperedRuntimes()], configVars: runtimes.configVars });
    const err = plain(build.compile?.output);
    expect(build.ok).toBe(false);
    expect(err).toContain(`Error: The Python ${version} runtime archive failed verification.`);
    expect(err).toContain(`but 'python-${version}-debian-13.tar.gz.sha256' says ${"0".repeat(64)}`);
    expect(err).toContain("Retry the build; if it");
    expect(failureReason(build.compile?.output)).toBe("runtime-archive::checksum-mismatch");
    expect(build.compile!.output).not.toContain("-----> Installing Python");
  });

  it("says what to do when the store can't be reached (network none)", async () => {
    const build = await h.build({
      buildpackDir,
      appDir,
      configVars: { ...runtimes.configVars, PYTHON_RUNTIME_URL_TEMPLATE: "https://runtimes.invalid/python/{major_minor}/{version}-{stack}.tar.gz" },
    });
    const err = plain(build.compile?.output);
    expect(build.ok).toBe(false);
    expect(err).toContain(`Error: Unable to download Python ${version}.`);
    expect(err).toContain(`runtime checksum file from:\n !     https://runtimes.invalid/python/3.11/${version}-debian-13.tar.gz.sha256`);
    expect(err).toContain("couldn't be reached");
    expect(err).toContain("file:// template");
    expect(err).toMatch(/- 3\.13 \(Python 3\.13\.\d+\)/);
    expect(failureReason(build.compile?.output)).toBe("runtime-archive::download::unreachable");
  });

  it("says the folder must be mounted when a file:// archive is missing", async () => {
    const build = await h.build({ buildpackDir, appDir, configVars: runtimes.configVars });
    const err = plain(build.compile?.output);
    expect(build.ok).toBe(false);
    expect(err).toContain(`Error: Unable to download Python ${version}.`);
    expect(err).toContain("There is no readable file at that path in the build container.");
    expect(err).toContain("SLUGFORGE_BUILD_MOUNTS");
    expect(failureReason(build.compile?.output)).toBe("runtime-archive::download::no-such-file");
  });

  it("refuses an invalid template, naming the placeholders", async () => {
    const build = await h.build({
      buildpackDir,
      appDir,
      configVars: { PYTHON_RUNTIME_URL_TEMPLATE: "ftp://mirror/python-{ver}.tgz" },
    });
    const err = plain(build.compile?.output);
    expect(build.ok).toBe(false);
    expect(err).toContain("Error: The PYTHON_RUNTIME_URL_TEMPLATE config var is invalid.");
    expect(err).toContain("{version}");
    expect(failureReason(build.compile?.output)).toBe("runtime-archive::invalid-url-template");
  });
});
