import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootAndProbe } from "../../../src/buildpack-test/boot-probe.js";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { appRepo, startServer, type RunningServer } from "./server.js";

const dirs = tmpDirs();
let server: RunningServer;
let git: GitClient;

beforeAll(async () => {
  git = new GitClient(await dirs.make("sf-e2e-home-"));
  server = await startServer(await dirs.make("sf-e2e-data-"));
});
afterAll(async () => {
  await server?.close();
  await dirs.cleanup();
});

interface SlugMeta { id: string; sizeBytes: number; commit: string; processTypes: Record<string, string>; buildpacks: string[] }
interface ReleaseMeta { version: number; slugId: string; description: string; config: Record<string, string> }

describe("git push builds the app", () => {
  it("pushes a stdlib Python app: detected, built live, accepted, slug and release kept, slug boots on the run image", async () => {
    const work = await dirs.make("sf-e2e-app-");
    const commit = await appRepo(git, "python-stdlib", work);
    const push = git.spawnTimed(["push", server.url("hello-py"), "main"], work);
    const result = await push.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/remote: -----> Build [0-9a-f-]{36} of hello-py/);
    expect(result.stderr).toContain("remote: -----> Python app detected");
    expect(result.stderr).toMatch(/Procfile declares types\s+-> web/);
    expect(result.stderr).toMatch(/remote: {8}Released v1/);
    expect(result.stderr).toMatch(/\* \[new branch\]\s+main -> main/);
    expect((await git.ok(["ls-remote", server.url("hello-py"), "refs/heads/main"], work)).split(/\s/)[0]).toBe(commit);

    const slugs = await server.api<SlugMeta[]>("GET", "/api/apps/hello-py/slugs");
    expect(slugs.body).toHaveLength(1);
    const slug = slugs.body[0]!;
    expect(slug).toMatchObject({ commit, processTypes: { web: "python app.py" }, buildpacks: ["python"] });
    expect(slug.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    const releases = await server.api<ReleaseMeta[]>("GET", "/api/apps/hello-py/releases");
    expect(releases.body).toMatchObject([{ version: 1, slugId: slug.id, description: `Deploy ${commit.slice(0, 7)}` }]);
    const builds = await server.api<{ id: string; status: string; slugId: string; phases: { phase: string }[] }[]>("GET", "/api/apps/hello-py/builds");
    expect(builds.body[0]).toMatchObject({ status: "succeeded", slugId: slug.id });
    expect(builds.body[0]!.phases.map((p) => p.phase)).toContain("compile");
    const output = await server.api<string>("GET", `/api/builds/${builds.body[0]!.id}/output`);
    expect(output.body).toContain("-----> Python app detected");

    // The stored file: named by its hash, read-only, only ./app/ inside, no .git.
    const hex = slug.id.slice(7);
    const file = path.join(server.dataDir, "slugs", "sha256", hex.slice(0, 2), `${hex}.tar.gz`);
    expect(createHash("sha256").update(readFileSync(file)).digest("hex")).toBe(hex);
    expect(statSync(file).mode & 0o777).toBe(0o444);
    execFileSync("gzip", ["-t", file]);
    const entries = execFileSync("tar", ["-tzf", file], { maxBuffer: 64 * 1024 * 1024 }).toString().split("\n").filter(Boolean);
    expect(entries.every((e) => e === "./app/" || e.startsWith("./app/"))).toBe(true);
    expect(entries).toContain("./app/Procfile");
    expect(entries).toContain("./app/.heroku/python/bin/python");
    expect(entries.some((e) => e.includes("/.git/") || e.endsWith("/.git"))).toBe(false);

    // The downloaded blob is what the id says.
    const blob = await fetch(`${server.base}/api/slugs/${slug.id}/blob`, { headers: { Authorization: "Bearer e2e-token-0123456789" } });
    expect(createHash("sha256").update(Buffer.from(await blob.arrayBuffer())).digest("hex")).toBe(hex);

    // The slug runs on the run image (no python3 there): its own interpreter answers HTTP. Booted
    // as `slugforge buildpack test` boots a slug, straight from the server's slug store.
    const booted = await bootAndProbe(createDockerRuntime(), createReadStream(file), {
      stack: "debian-13",
      network: "none",
      mounts: [],
      command: slug.processTypes.web!,
      processType: "web",
      path: "/",
      env: {},
      timeoutMs: 30_000,
      signal: AbortSignal.timeout(120_000),
      labels: { "org.slugforge.test": "push-python" },
    });
    expect(booted.status, booted.log).toBe(200);
    expect(booted.body).toContain("hello from python-stdlib");
  });

  it("rejects a failing compile and leaves the branch where it was", async () => {
    const work = await dirs.make("sf-e2e-fail-");
    const first = await appRepo(git, "python-stdlib", work);
    expect((await git.run(["push", server.url("broken-py"), "main"], work)).code).toBe(0);
    mkdirSync(path.join(work, "bin"), { recursive: true });
    writeFileSync(path.join(work, "bin/post_compile"), "#!/usr/bin/env bash\necho 'post_compile: the asset step broke'\nexit 3\n");
    chmodSync(path.join(work, "bin/post_compile"), 0o755);
    await git.ok(["add", "-A"], work);
    await git.ok(["commit", "-q", "-m", "break it"], work);
    const push = await git.run(["push", server.url("broken-py"), "main"], work);
    expect(push.code).toBe(1);
    expect(push.stderr).toContain("post_compile: the asset step broke");
    expect(push.stderr).toMatch(/COMPILE_FAILED \(build [0-9a-f-]{36}\)/);
    expect(push.stderr).toContain("! [remote rejected] main -> main (pre-receive hook declined)");
    expect((await git.ok(["ls-remote", server.url("broken-py"), "refs/heads/main"], work)).split(/\s/)[0]).toBe(first);
    const builds = await server.api<{ status: string; errorCode: string }[]>("GET", "/api/apps/broken-py/builds");
    expect(builds.body[0]).toMatchObject({ status: "failed", errorCode: "COMPILE_FAILED" });
    const releases = await server.api<ReleaseMeta[]>("GET", "/api/apps/broken-py/releases");
    expect(releases.body).toHaveLength(1);
  });

  it("rejects an app no buildpack detects, naming what it found", async () => {
    const work = await dirs.make("sf-e2e-none-");
    await git.initRepo(work);
    const push = await git.run(["push", server.url("no-bp"), "main"], work);
    expect(push.code).toBe(1);
    expect(push.stderr).toMatch(/NO_BUILDPACK_DETECTED/);
    expect(push.stderr).toContain("README.md");
    expect((await git.run(["ls-remote", "--exit-code", server.url("no-bp"), "refs/heads/main"], work)).code).not.toBe(0);
  });

  it("config changes and rollbacks make releases on the same slugs", async () => {
    const work = await dirs.make("sf-e2e-rel-");
    await appRepo(git, "python-stdlib", work);
    expect((await git.run(["push", server.url("rel-py"), "main"], work)).code).toBe(0);
    const set = await server.api<{ release: ReleaseMeta }>("PATCH", "/api/apps/rel-py/config-vars", { GREETING: "hello" });
    expect(set.body.release).toMatchObject({ version: 2, description: "Set GREETING config vars", config: { GREETING: "hello" } });
    const back = await server.api<ReleaseMeta>("POST", "/api/apps/rel-py/releases", { release: 1 });
    expect(back.status).toBe(201);
    expect(back.body).toMatchObject({ version: 3, description: "Rollback to v1", config: {} });
    const releases = await server.api<ReleaseMeta[]>("GET", "/api/apps/rel-py/releases");
    expect(new Set(releases.body.map((r) => r.slugId)).size).toBe(1);
  });
});
