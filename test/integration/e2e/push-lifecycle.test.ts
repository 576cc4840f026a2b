import { cp } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { readdir } from "node:fs/promises";
import { runChecked } from "../../../src/util/run-process.js";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { until } from "../../helpers/until.js";
import { startServer, type RunningServer } from "./server.js";

const FIXTURE_BUILDPACKS = path.resolve(import.meta.dirname, "../../fixtures/buildpacks");
const dirs = tmpDirs();
const runtime = createDockerRuntime();
let server: RunningServer;
let git: GitClient;
let slowUrl: string;
let cacherUrl: string;

/** A fixture buildpack as its own git repo, for a file:// buildpack URL. */
async function buildpackRepo(name: string): Promise<string> {
  const dir = await dirs.make(`sf-bp-${name}-`);
  await cp(path.join(FIXTURE_BUILDPACKS, name), dir, { recursive: true });
  await git.ok(["init", "-q", "-b", "main"], dir);
  await git.ok(["add", "-A"], dir);
  await git.ok(["commit", "-q", "-m", name], dir);
  return `file://${dir}`;
}

async function slowApp(seconds: number): Promise<string> {
  const work = await dirs.make("sf-e2e-slow-");
  await git.initRepo(work);
  await git.commit(work, "SLOW", `${seconds}\n`, "slow build");
  return work;
}

/** Build containers of one app (other test files build at the same time). */
async function buildContainers(app: string): Promise<string[]> {
  return runtime.listContainers(`org.slugforge.app=${app}`);
}

beforeAll(async () => {
  git = new GitClient(await dirs.make("sf-e2e-home-"));
  server = await startServer(await dirs.make("sf-e2e-data-"));
  slowUrl = await buildpackRepo("slow");
  cacherUrl = await buildpackRepo("cacher");
});
afterAll(async () => {
  await server?.close();
  await dirs.cleanup();
});

describe("push lifecycle with a real engine", () => {
  it("streams output live: the first line arrives seconds before the push ends (BUILDPACK_URL, file://)", async () => {
    expect((await server.api("POST", "/api/apps", { name: "live" })).status).toBe(201);
    await server.api("PATCH", "/api/apps/live/config-vars", { BUILDPACK_URL: `${slowUrl}#main` });
    const work = await slowApp(3);
    const push = git.spawnTimed(["push", server.url("live"), "main"], work);
    const result = await push.done;
    expect(result.code, result.stderr).toBe(0);
    const first = push.lines.find((l) => l.text.includes("Starting slow compile"));
    const last = push.lines.find((l) => l.text.includes("Slow compile done"));
    expect(first && last).toBeTruthy();
    expect(result.ms - first!.t).toBeGreaterThanOrEqual(2000);
    expect(last!.t - first!.t).toBeGreaterThanOrEqual(2500);
    expect(result.stderr).toContain("caf\u00e9 \u2713");
  });

  it("a pusher who hits Ctrl-C mid-build cancels it: container removed, ref unchanged, recorded cancelled, next push works", async () => {
    expect((await server.api("POST", "/api/apps", { name: "quitter" })).status).toBe(201);
    await server.api("PATCH", "/api/apps/quitter/config-vars", { BUILDPACK_URL: slowUrl });
    const work = await slowApp(60);
    const push = git.spawnTimed(["push", server.url("quitter"), "main"], work);
    const deadline = Date.now() + 60_000;
    while (!push.lines.some((l) => l.text.includes("Starting slow compile")) && Date.now() < deadline) await sleep(100);
    const [running] = await buildContainers("quitter");
    expect(running).toBeDefined();
    // The build container runs with the limits and hardening the design asks for.
    const inspected = JSON.parse((await runChecked("docker", ["inspect", running!])).stdout) as { Config: { User: string }; HostConfig: Record<string, unknown> }[];
    expect(inspected[0]!.Config.User).toBe("slug");
    expect(inspected[0]!.HostConfig).toMatchObject({ NetworkMode: "none", CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges"], PidsLimit: 1024, Memory: 2048 * 1024 * 1024 });
    expect(inspected[0]!.HostConfig.NanoCpus).toBeGreaterThan(0);
    push.interrupt("SIGINT");
    const result = await push.done;
    expect(result.code).not.toBe(0);

    let builds: { status: string; errorCode: string }[] = [];
    for (let i = 0; i < 100; i++) {
      builds = (await server.api<typeof builds>("GET", "/api/apps/quitter/builds")).body;
      if (builds[0]?.status !== "building" && (await buildContainers("quitter")).length === 0) break;
      await sleep(200);
    }
    expect(builds[0]).toMatchObject({ status: "cancelled", errorCode: "BUILD_CANCELLED" });
    expect(await buildContainers("quitter")).toEqual([]);
    expect((await git.run(["ls-remote", "--exit-code", server.url("quitter"), "refs/heads/main"], work)).code).not.toBe(0);
    expect((await fetch(`${server.base}/healthz`)).status).toBe(200);

    await git.commit(work, "SLOW", "1\n", "faster");
    const again = await git.run(["push", server.url("quitter"), "main"], work);
    expect(again.code, again.stderr).toBe(0);
  });

  it("builds two apps pushed at the same time", async () => {
    for (const app of ["twin-a", "twin-b"]) {
      expect((await server.api("POST", "/api/apps", { name: app })).status).toBe(201);
      await server.api("PATCH", `/api/apps/${app}/config-vars`, { BUILDPACK_URL: slowUrl });
    }
    const work = await slowApp(3);
    const started = Date.now();
    const pushes = ["twin-a", "twin-b"].map((app) => ({ at: Date.now() - started, run: git.spawnTimed(["push", server.url(app), "main"], work) }));
    const results = await Promise.all(pushes.map((p) => p.run.done));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    // Both 3 s builds ran side by side (concurrency 2): each started compiling before the other finished.
    const when = (p: (typeof pushes)[number], text: string): number => p.at + (p.run.lines.find((l) => l.text.includes(text))?.t ?? Number.NaN);
    const [a, b] = pushes as [(typeof pushes)[number], (typeof pushes)[number]];
    expect(when(a, "Starting slow compile")).toBeLessThan(when(b, "Slow compile done"));
    expect(when(b, "Starting slow compile")).toBeLessThan(when(a, "Slow compile done"));
    for (const app of ["twin-a", "twin-b"]) {
      expect((await server.api<unknown[]>("GET", `/api/apps/${app}/releases`)).body).toHaveLength(1);
    }
  });

  it("deleting an app removes its repo, caches and prepared container, refuses while a push builds, and the name starts afresh", async () => {
    const name = "doomed";
    expect((await server.api("POST", "/api/apps", { name })).status).toBe(201);
    await server.api("PATCH", `/api/apps/${name}/config-vars`, { BUILDPACK_URL: cacherUrl });
    const work = await dirs.make("sf-e2e-doomed-");
    await git.initRepo(work);
    await git.commit(work, "CACHE", "\n", "cacher detects this");
    const first = await git.run(["push", server.url(name), "main"], work);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("Cache count was 0");
    const cacheDir = path.join(server.dataDir, "cache", name);
    // After the push is answered the server keeps the cache and prepares the next build's container.
    const idle = async (): Promise<boolean> => /^slugforge_cache_copies_pending 0$/m.test((await server.api<string>("GET", "/metrics")).body);
    await until(idle, 60_000);
    expect((await readdir(cacheDir)).some((n) => !n.startsWith(".") && !n.endsWith(".json"))).toBe(true);
    const prepared = (): Promise<string[]> => runtime.listContainers(`org.slugforge.prepared-for=${name}`);
    // Layer mode (a local overlay2 engine) makes the next container ahead of time; mount mode does not.
    expect(await prepared()).toHaveLength((await runtime.layerAccess()) ? 1 : 0);

    // A push being built holds the app: the delete is refused and the push goes through.
    await server.api("PATCH", `/api/apps/${name}/config-vars`, { BUILDPACK_URL: slowUrl });
    await git.commit(work, "SLOW", "3\n", "slow build");
    const busy = git.spawnTimed(["push", server.url(name), "main"], work);
    await until(() => busy.lines.some((l) => l.text.includes("Starting slow compile")), 60_000);
    const refused = await server.api<{ id: string }>("DELETE", `/api/apps/${name}`);
    expect(refused.status).toBe(409);
    expect(refused.body.id).toBe("APP_BUSY");
    expect((await busy.done).code).toBe(0);

    await server.api("PATCH", `/api/apps/${name}/config-vars`, { BUILDPACK_URL: cacherUrl });
    const deleted = await server.api("DELETE", `/api/apps/${name}`);
    expect(deleted.status).toBe(200);
    expect((await server.api("GET", `/api/apps/${name}`)).status).toBe(404);
    expect((await readdir(path.join(server.dataDir, "repos"))).filter((n) => n.includes(name))).toEqual([]);
    expect((await readdir(path.join(server.dataDir, "cache"))).filter((n) => n.includes(name))).toEqual([]);
    expect(await prepared()).toEqual([]);

    // The same name again: a new repo (no "fetch first" against the old history), no old cache, no old builds.
    const fresh = await dirs.make("sf-e2e-reborn-");
    await git.initRepo(fresh);
    await git.commit(fresh, "CACHE", "another\n", "another history");
    expect((await server.api("POST", "/api/apps", { name })).status).toBe(201);
    await server.api("PATCH", `/api/apps/${name}/config-vars`, { BUILDPACK_URL: cacherUrl });
    const reborn = await git.run(["push", server.url(name), "main"], fresh);
    expect(reborn.code, reborn.stderr).toBe(0);
    expect(reborn.stderr).toContain("Cache count was 0");
    expect((await server.api<unknown[]>("GET", `/api/apps/${name}/builds`)).body).toHaveLength(1);
  });
});
