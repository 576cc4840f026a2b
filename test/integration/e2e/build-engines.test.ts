import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerRuntime } from "../../../src/docker/dockerode-runtime.js";
import { GitClient } from "../../helpers/git-client.js";
import { createSecondEngine, type SecondEngine } from "../../helpers/second-engine.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { until } from "../../helpers/until.js";
import { buildpackRepo, startServer, type RunningServer } from "./server.js";

/*
 * A pool of build engines (SLUGFORGE_BUILD_ENGINES): the main engine and a second dockerd this
 * test starts on its own socket and data folder. The stack images are copied into the second one;
 * builds spread over both; the second is stopped mid-build: that build fails with ENGINE_DOWN, the
 * engine is down in /api/engines and /metrics, the next builds go to the main engine; started
 * again, it comes back and takes builds.
 */
const MAIN = "unix:///var/run/docker.sock";
const STACK = ["slugforge/stack:debian-13-build", "slugforge/stack:debian-13-run"];
const dirs = tmpDirs();
let engine: SecondEngine;
let server: RunningServer;
let git: GitClient;
let buildpack: string;
let cacher: string;
/** The app of the spread test that built on the second engine (its caches are kept on this host). */
let spreadOnSecond: { name: string; dir: string } | undefined;

interface EngineRow {
  url: string;
  primary: boolean;
  state: string;
  running: number;
  lastError: string | null;
}

const engines = async (): Promise<EngineRow[]> => (await server.api<EngineRow[]>("GET", "/api/engines")).body;
const stateOf = async (url: string): Promise<EngineRow> => (await engines()).find((e) => e.url === url)!;

/** An app that builds with the slow test buildpack for `seconds`, then the cacher (which counts its builds in its cache). */
async function slowApp(name: string, seconds: number): Promise<string> {
  const dir = await dirs.make(`sf-eng-${name}-`);
  await git.initRepo(dir);
  await git.commit(dir, "CACHE", "", "cacher");
  await git.commit(dir, ".buildpacks", `${buildpack}\n${cacher}\n`, "buildpacks");
  await git.commit(dir, "SLOW", `${seconds}\n`, "slow");
  return dir;
}
const cachePending = async (): Promise<number> => Number(/^slugforge_cache_copies_pending (\d+)$/m.exec((await server.api<string>("GET", "/metrics")).body)?.[1] ?? NaN);
const push = (name: string, dir: string) => git.run(["push", server.url(name), "main"], dir);
const engineOf = (stderr: string): string | undefined => /Build engine: (\S+)/.exec(stderr)?.[1];

beforeAll(async () => {
  engine = await createSecondEngine();
  await engine.start();
  git = new GitClient(await dirs.make("sf-eng-home-"));
  buildpack = await buildpackRepo(git, "slow", await dirs.make("sf-eng-bp-"));
  cacher = await buildpackRepo(git, "cacher", await dirs.make("sf-eng-cacher-"));
  server = await startServer(await dirs.make("sf-eng-data-"), {
    SLUGFORGE_BUILD_ENGINES: `${MAIN},${engine.url}`,
    SLUGFORGE_BUILD_CONCURRENCY: "2",
    SLUGFORGE_ENGINE_CHECK: "1s",
  });
  // The second engine takes builds once the stack images are copied into it (once per test file).
  await until(async () => (await stateOf(engine.url)).state === "up", 240_000);
}, 300_000);

afterAll(async () => {
  await server?.close();
  await engine?.remove();
  await dirs.cleanup();
}, 120_000);

describe("a pool of build engines", () => {
  it("copies the stack images into the engine that lacked them, with the same ids", async () => {
    const main = createDockerRuntime({ dockerHost: MAIN });
    const second = createDockerRuntime({ dockerHost: engine.url });
    for (const ref of STACK) {
      const want = await main.inspectImage(ref);
      expect(want, ref).toBeDefined();
      expect((await second.inspectImage(ref))?.id, ref).toBe(want!.id);
    }
    expect(await engines()).toEqual([
      expect.objectContaining({ url: MAIN, primary: true, state: "up", running: 0 }),
      expect.objectContaining({ url: engine.url, primary: false, state: "up", running: 0 }),
    ]);
  });

  it("spreads builds running at once over both engines", async () => {
    const [a, b] = await Promise.all([slowApp("spread-a", 4), slowApp("spread-b", 4)]);
    const [pa, pb] = await Promise.all([push("eng-spread-a", a), push("eng-spread-b", b)]);
    expect(pa.code, pa.stderr).toBe(0);
    expect(pb.code, pb.stderr).toBe(0);
    expect(new Set([engineOf(pa.stderr), engineOf(pb.stderr)])).toEqual(new Set([MAIN, engine.url]));
    expect(pa.stderr).toContain("Cache count was 0");
    spreadOnSecond = engineOf(pa.stderr) === engine.url ? { name: "eng-spread-a", dir: a } : { name: "eng-spread-b", dir: b };
    // The caches are read out of the build containers after the pushes have their answers.
    await until(async () => (await cachePending()) === 0, 60_000);
  });

  it("fails the build on an engine taken away mid-build with ENGINE_DOWN; later builds go to the other engine", async () => {
    const [first, second, later] = await Promise.all([slowApp("lost-a", 15), slowApp("lost-b", 120), slowApp("lost-c", 1)]);
    const onMain = push("eng-lost-a", first);
    await until(async () => (await engines()).reduce((n, e) => n + e.running, 0) === 1, 60_000);
    const lost = git.spawnTimed(["push", server.url("eng-lost-b"), "main"], second);
    // Both engines busy, and the second one's build well into its compile.
    await until(async () => (await engines()).every((e) => e.running === 1), 60_000);
    await until(() => lost.lines.some((l) => l.text.includes("Starting slow compile")), 60_000);
    const stopped = Date.now();
    await engine.stop();

    const failed = await lost.done;
    expect(failed.code).not.toBe(0);
    expect(engineOf(failed.stderr)).toBe(engine.url);
    expect(failed.stderr).toMatch(/Push rejected: ENGINE_DOWN \(build [0-9a-f-]{36}\)/);
    // Failed when the engine went, not at the end of its 120 s compile.
    expect(Date.now() - stopped).toBeLessThan(60_000);

    // Down, as the build found it. A stopping engine can answer one more check after a failed ping
    // (and be taken back for a moment); the checks every second find it gone once it has stopped.
    await until(async () => (await stateOf(engine.url)).state === "down", 10_000);
    const down = await stateOf(engine.url);
    expect(down).toMatchObject({ state: "down", running: 0 });
    expect(down.lastError).toBeTruthy();
    const metrics = (await server.api<string>("GET", "/metrics")).body;
    expect(metrics).toContain(`slugforge_engine_up{engine="${engine.url}"} 0`);
    expect(metrics).toContain(`slugforge_engine_up{engine="${MAIN}"} 1`);

    const mainBuild = await onMain;
    expect(mainBuild.code, mainBuild.stderr).toBe(0);
    expect(engineOf(mainBuild.stderr)).toBe(MAIN);
    const next = await push("eng-lost-c", later);
    expect(next.code, next.stderr).toBe(0);
    expect(engineOf(next.stderr)).toBe(MAIN);
    const builds = (await server.api<{ status: string; errorCode: string | null }[]>("GET", "/api/apps/eng-lost-b/builds")).body;
    expect(builds[0]).toMatchObject({ status: "failed", errorCode: "ENGINE_DOWN" });

    // The app whose last build (and prepared container) was on the lost engine builds on the main
    // one, with the caches that build kept on this host.
    await git.commit(spreadOnSecond!.dir, "again.txt", "again\n", "again");
    const moved = await push(spreadOnSecond!.name, spreadOnSecond!.dir);
    expect(moved.code, moved.stderr).toBe(0);
    expect(engineOf(moved.stderr)).toBe(MAIN);
    expect(moved.stderr).toContain("Cache count was 1");
  });

  it("takes the engine back once it answers again, and builds there", async () => {
    await engine.start();
    await until(async () => (await stateOf(engine.url)).state === "up", 60_000);
    expect(await stateOf(engine.url)).toMatchObject({ running: 0, lastError: null });
    const [busy, other] = await Promise.all([slowApp("back-a", 8), slowApp("back-b", 1)]);
    const onMain = push("eng-back-a", busy);
    await until(async () => (await stateOf(MAIN)).running === 1, 60_000);
    const back = await push("eng-back-b", other);
    expect(back.code, back.stderr).toBe(0);
    expect(engineOf(back.stderr)).toBe(engine.url);
    expect((await onMain).code).toBe(0);
  });
});
