import os from "node:os";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { cp, readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { runChecked, runProcess } from "../../../src/util/run-process.js";
import { GitClient } from "../../helpers/git-client.js";
import { spawnServe } from "../../helpers/serve-process.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

// The server as an operator runs it (`slugforge serve`, a process of its own), so it can be
// killed with SIGKILL and started again on the same data folder; the CLI talks to it.
const REPO = path.resolve(import.meta.dirname, "../../..");
const BIN = path.join(REPO, "bin/slugforge.js");
const TOKEN = "process-token-0123456789";
const SECRET = "hunter2-never-log-this-value";
const dirs = tmpDirs();
const runtime = createDockerRuntime();
let git: GitClient;
let dataDir: string;
let staticUrl: string;
let slowUrl: string;

interface Child {
  proc: ChildProcess;
  port: number;
  stderr: () => string;
}

function startChild(): Promise<Child> {
  return spawnServe({
    PORT: "0",
    SLUGFORGE_HOST: "127.0.0.1",
    SLUGFORGE_DATA: dataDir,
    SLUGFORGE_TOKEN: TOKEN,
    SLUGFORGE_BUILD_NETWORK: "none",
    SLUGFORGE_BUILDPACK_ROOTS: os.tmpdir(),
    SLUGFORGE_LOG_LEVEL: "debug",
    // Release images are the image tests' business: this server leaves the engine's images alone.
    SLUGFORGE_IMAGES: "off",
  });
}

function cli(child: Child, args: string[], token = TOKEN) {
  return runProcess(process.execPath, [BIN, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, SLUGFORGE_URL: `http://127.0.0.1:${child.port}`, SLUGFORGE_TOKEN: token, SLUGFORGE_DATA: dataDir },
    cwd: dataDir,
  });
}

async function buildpackRepo(name: string): Promise<string> {
  const dir = await dirs.make(`sf-bp-${name}-`);
  await cp(path.join(REPO, "test/fixtures/buildpacks", name), dir, { recursive: true });
  await git.ok(["init", "-q", "-b", "main"], dir);
  await git.ok(["add", "-A"], dir);
  await git.ok(["commit", "-q", "-m", name], dir);
  return `file://${dir}`;
}

async function killHard(child: Child): Promise<void> {
  child.proc.kill("SIGKILL");
  await new Promise((r) => (child.proc.exitCode !== null || child.proc.signalCode !== null ? r(null) : child.proc.once("exit", r)));
}

async function waitForLine(push: ReturnType<GitClient["spawnTimed"]>, text: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!push.lines.some((l) => l.text.includes(text))) {
    if (Date.now() > deadline) throw new Error(`never saw "${text}":\n${push.lines.map((l) => l.text).join("\n")}`);
    await sleep(50);
  }
}

const url = (child: Child, app: string): string => `http://git:${TOKEN}@127.0.0.1:${child.port}/${app}.git`;

beforeAll(async () => {
  // The CLI and `serve` run from dist/: make sure it is the code under test.
  await runChecked("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: REPO });
  git = new GitClient(await dirs.make("sf-proc-home-"));
  dataDir = await dirs.make("sf-proc-data-");
  staticUrl = await buildpackRepo("static");
  slowUrl = await buildpackRepo("slow");
}, 300_000);
afterAll(async () => {
  await dirs.cleanup();
});

describe("the server as a process, with the CLI", () => {
  it("reproducible slugs, releases through the CLI, verified download, no config values in any log", async () => {
    const child = await startChild();
    try {
      for (const app of ["repro-a", "repro-b"]) {
        const created = await cli(child, ["apps:create", app]);
        expect(created.code, created.stderr).toBe(0);
        expect((await cli(child, ["config:set", app, `BUILDPACK_URL=${staticUrl}`, `API_SECRET=${SECRET}`])).code).toBe(0);
      }
      expect((await cli(child, ["apps:create", "Not_Valid"])).code).toBe(1);
      const work = await dirs.make("sf-proc-app-");
      await git.initRepo(work);
      for (const app of ["repro-a", "repro-b"]) {
        const push = await git.run(["push", url(child, app), "main"], work);
        expect(push.code, push.stderr).toBe(0);
        expect(push.stderr).not.toContain(SECRET);
      }
      const slugsOf = async (app: string) => JSON.parse((await cli(child, ["slugs", app, "--json"])).stdout) as { id: string }[];
      const [a] = await slugsOf("repro-a");
      const [b] = await slugsOf("repro-b");
      expect(a!.id).toMatch(/^sha256:/);
      expect(b!.id).toBe(a!.id);

      expect((await cli(child, ["config:set", "repro-a", "GREETING=hi"])).stdout).toContain("release v2");
      expect((await cli(child, ["rollback", "repro-a", "v1"])).stdout).toContain("now v3");
      // People get plain-word headers, short ids and times in words; piped output has no colour.
      const releases = await cli(child, ["releases", "repro-a"]);
      expect(releases.stdout).toMatch(/^Release\s+Description\s+Slug\s+Image\s+Created\n/);
      const shortSlug = `${a!.id.slice(0, "sha256:".length + 12)}…`;
      expect(releases.stdout).toMatch(new RegExp(`\\nv3\\s+Rollback to v1\\s+${shortSlug}\\s+(just now|\\d+ seconds? ago|1 minute ago)\\n`));
      expect(releases.stdout).toMatch(/v2\s+Set GREETING config vars/);
      expect(releases.stdout).not.toContain("\x1b[");
      const slugs = await cli(child, ["slugs", "repro-a"]);
      expect(slugs.stdout).toMatch(new RegExp(`^Slug\\s+Size\\s+Commit\\s+Stack\\s+Created\\n${shortSlug}\\s+\\d+(\\.\\d)? [KM]?B\\s+[0-9a-f]{7}\\s+debian-13\\s`));
      const open = await cli(child, ["open", "repro-a"]);
      expect(open.code, open.stderr).toBe(0);
      expect(open.stdout).toContain(`Slug:    ${a!.id}`);
      expect(open.stdout).toContain("  slugforge run repro-a web --port 8080");
      expect((JSON.parse((await cli(child, ["open", "repro-a", "--json"])).stdout) as { version: number }).version).toBe(3);

      const file = path.join(dataDir, "download.tar.gz");
      const download = await cli(child, ["slugs:download", a!.id, file]);
      expect(download.code, download.stderr).toBe(0);
      expect(`sha256:${createHash("sha256").update(await readFile(file)).digest("hex")}`).toBe(a!.id);
      expect((await cli(child, ["slugs:download", `sha256:${"0".repeat(64)}`, file])).code).toBe(1);

      const builds = JSON.parse((await cli(child, ["builds", "repro-a", "--json"])).stdout) as { id: string }[];
      const output = await cli(child, ["builds:output", builds[0]!.id]);
      expect(output.stdout).toContain("Writing static files");
      expect(output.stdout).not.toContain(SECRET);

      // A deploy token made with the CLI pushes, reads but cannot see config, is named in the activity, and is revoked.
      // Its app is a fresh one: a second push to repro-a would take the container prepared for it,
      // which a concurrent test run's teardown on a shared engine may remove.
      expect((await cli(child, ["apps:create", "by-token"])).code).toBe(0);
      expect((await cli(child, ["config:set", "by-token", `BUILDPACK_URL=${staticUrl}`, `API_SECRET=${SECRET}`])).code).toBe(0);
      const created = await cli(child, ["tokens:create", "--app", "by-token", "--scope", "deploy", "--json"]);
      expect(created.code, created.stderr).toBe(0);
      const token = JSON.parse(created.stdout) as { id: string; token: string };
      expect(token.token).toMatch(/^sfk_/);
      expect((await cli(child, ["tokens:create", "--app", "by-token", "--scope", "read"])).stdout).toContain("shown only this once");
      expect((await cli(child, ["tokens:create", "--app", "by-token", "--scope", "admin"])).code).toBe(1);
      const listed = await cli(child, ["tokens"]);
      expect(listed.stdout).toMatch(new RegExp(`${token.id}\\s+by-token\\s+deploy`));
      expect(listed.stdout).not.toContain(token.token);
      const tokenUrl = `http://git:${token.token}@127.0.0.1:${child.port}/by-token.git`;
      const tokenPush = await git.run(["push", tokenUrl, "main"], work);
      expect(tokenPush.code, tokenPush.stderr).toBe(0);
      expect((await cli(child, ["releases", "by-token"], token.token)).stdout).toMatch(/v1\s+Deploy/);
      const hidden = await cli(child, ["config", "by-token"], token.token);
      expect([hidden.code, hidden.stderr]).toEqual([1, expect.stringContaining("FORBIDDEN")]);
      const activity = JSON.parse((await cli(child, ["activity", "by-token", "--json"])).stdout) as { actor: string; action: string }[];
      expect(activity.slice(0, 2)).toMatchObject([
        { actor: token.id, action: "release" },
        { actor: token.id, action: "push" },
      ]);
      expect(JSON.stringify(activity)).not.toContain(SECRET);
      const revoked = await cli(child, ["tokens:revoke", token.id]);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toContain(`revoked deploy token ${token.id}`);
      expect((await git.run(["push", tokenUrl, "main"], work)).stderr).toContain("Authentication failed");
      const unconfirmed = await cli(child, ["apps:destroy", "repro-b"]);
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.stderr).toContain("--confirm repro-b");
      const destroyed = await cli(child, ["apps:destroy", "repro-b", "--confirm", "repro-b"]);
      expect(destroyed.code, destroyed.stderr).toBe(0);
      expect(destroyed.stdout).toContain("deleted repro-b");
      expect((JSON.parse((await cli(child, ["apps", "--json"])).stdout) as { name: string }[]).map((a) => a.name)).not.toContain("repro-b");
      expect((await cli(child, ["apps:destroy", "repro-b", "--confirm=repro-b"])).code).toBe(1);
      expect(child.stderr()).toContain('"msg":"listening"');
      expect(child.stderr()).not.toContain(SECRET);
    } finally {
      child.proc.kill("SIGTERM");
    }
  });

  it("kill -9 during a build, and during slug writing: a restart leaves no torn state", async () => {
    let child = await startChild();
    for (const [app, bp] of [["killed-build", slowUrl], ["killed-slug", staticUrl]] as const) {
      expect((await cli(child, ["apps:create", app])).code).toBe(0);
      expect((await cli(child, ["config:set", app, `BUILDPACK_URL=${bp}`])).code).toBe(0);
    }
    const work = await dirs.make("sf-proc-kill-");
    await git.initRepo(work);
    await git.commit(work, "SLOW", "120\n", "slow");
    await git.commit(work, "BULK_MB", "400\n", "bulky");

    const pushBuild = git.spawnTimed(["push", url(child, "killed-build"), "main"], work);
    await waitForLine(pushBuild, "Starting slow compile");
    await killHard(child);
    expect((await pushBuild.done).code).not.toBe(0);

    child = await startChild();
    const pushSlug = git.spawnTimed(["push", url(child, "killed-slug"), "main"], work);
    await waitForLine(pushSlug, "Compressing...");
    await killHard(child);
    expect((await pushSlug.done).code).not.toBe(0);
    // The orphaned build containers are still there until the next start sweeps them.

    child = await startChild();
    try {
      for (const app of ["killed-build", "killed-slug"]) {
        const builds = JSON.parse((await cli(child, ["builds", app, "--json"])).stdout) as { status: string; errorCode: string }[];
        expect(builds[0], app).toMatchObject({ status: "failed", errorCode: "INTERRUPTED" });
        expect(JSON.parse((await cli(child, ["slugs", app, "--json"])).stdout)).toEqual([]);
        expect((await git.run(["ls-remote", "--exit-code", url(child, app), "refs/heads/main"], work)).code).not.toBe(0);
      }
      const slugFiles = await readdir(path.join(dataDir, "slugs", "sha256"), { recursive: true });
      expect(slugFiles.filter((f) => String(f).includes(".tmp"))).toEqual([]);
      for (const app of ["killed-build", "killed-slug"]) expect(await runtime.listContainers(`org.slugforge.app=${app}`)).toEqual([]);
      // Nothing is stuck: the same app builds again.
      await git.commit(work, "BULK_MB", "1\n", "smaller");
      const again = await git.run(["push", url(child, "killed-slug"), "main"], work);
      expect(again.code, again.stderr).toBe(0);
    } finally {
      child.proc.kill("SIGTERM");
    }
  });
});
