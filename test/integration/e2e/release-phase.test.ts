import { cp } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { startServer, type RunningServer } from "./server.js";

/*
 * Heroku's release phase: the Procfile's `release:` command runs after the slug is made and before
 * the release, in a one-off container of the new slug on the run image, with the config vars the
 * release will have; its output is streamed to the push. A failure or a timeout makes no release.
 */
const FIXTURE_BUILDPACKS = path.resolve(import.meta.dirname, "../../fixtures/buildpacks");
const dirs = tmpDirs();
let server: RunningServer;
let git: GitClient;
let work: string;

interface Build {
  status: string;
  errorCode: string | null;
  slugId: string | null;
  phases: { phase: string; ms: number }[];
}

beforeAll(async () => {
  git = new GitClient(await dirs.make("sf-release-home-"));
  const bp = await dirs.make("sf-release-bp-");
  await cp(path.join(FIXTURE_BUILDPACKS, "cacher"), bp, { recursive: true });
  await git.ok(["init", "-q", "-b", "main"], bp);
  await git.ok(["add", "-A"], bp);
  await git.ok(["commit", "-q", "-m", "cacher"], bp);
  server = await startServer(await dirs.make("sf-release-data-"), { SLUGFORGE_RELEASE_TIMEOUT: "3s" });
  work = await dirs.make("sf-release-app-");
  await git.initRepo(work);
  await git.commit(work, ".buildpacks", `file://${bp}\n`, "buildpack");
  await git.commit(work, "CACHE", "", "cacher");
  expect((await server.api("POST", "/api/apps", { name: "released" })).status).toBe(201);
  expect((await server.api("PATCH", "/api/apps/released/config-vars", { GREETING: "hello-from-config" })).status).toBe(200);
}, 120_000);
afterAll(async () => {
  await server?.close();
  await dirs.cleanup();
});

const releases = async (): Promise<{ version: number }[]> => (await server.api<{ version: number }[]>("GET", "/api/apps/released/releases")).body;
const lastBuild = async (): Promise<Build> => (await server.api<Build[]>("GET", "/api/apps/released/builds")).body[0]!;
const push = async (procfile: string, message: string) => {
  await git.commit(work, "Procfile", procfile, message);
  return git.run(["push", server.url("released"), "main"], work);
};

describe("the release phase", () => {
  it("runs the release command with the release's config vars before the release is made", async () => {
    const ok = await push('release: echo "migrating as $(id -un) in $PWD with $GREETING"; test -f /app/count-seen\nweb: sleep 1000\n', "release phase");
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain("-----> Running release command: echo");
    // Config var values of 6+ characters are masked in build output, the release phase's too.
    expect(ok.stderr).toMatch(/migrating as slug in \/app with \*\*\*\*/);
    expect(ok.stderr).toContain("Release command done");
    expect(ok.stderr.indexOf("Release command done")).toBeLessThan(ok.stderr.indexOf("Released v"));
    expect((await releases()).map((r) => r.version)).toEqual([1]);
    expect((await lastBuild()).phases.map((p) => p.phase)).toContain("release-phase");
  });

  it("a failing release command makes no release and rejects the push; the build keeps its slug", async () => {
    const failing = await push("release: echo 'migration failed' >&2; exit 3\n", "failing release phase");
    expect(failing.code).not.toBe(0);
    expect(failing.stderr).toContain("migration failed");
    const last = failing.stderr.trimEnd().split("\n").filter((l) => l.startsWith("remote: !")).at(-1);
    expect(last).toMatch(/RELEASE_PHASE_FAILED: The release command exited with 3; nothing was released/);
    expect((await releases()).map((r) => r.version)).toEqual([1]);
    const build = await lastBuild();
    expect(build).toMatchObject({ status: "failed", errorCode: "RELEASE_PHASE_FAILED" });
    expect(build.slugId).toMatch(/^sha256:/);
  });

  it("a release command over SLUGFORGE_RELEASE_TIMEOUT is stopped: no release", async () => {
    const started = Date.now();
    const slow = await push("release: sleep 60\n", "slow release phase");
    expect(slow.code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(40_000);
    expect(slow.stderr).toContain("RELEASE_PHASE_FAILED: The release command ran longer than 3s (SLUGFORGE_RELEASE_TIMEOUT)");
    expect((await releases()).map((r) => r.version)).toEqual([1]);
  });
});
