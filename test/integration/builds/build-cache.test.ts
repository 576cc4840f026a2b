import { execFileSync } from "node:child_process";
import { access, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { PREPARED_LABEL } from "../../../src/builds/build-container.js";
import type { ContainerRuntime } from "../../../src/docker/container-runtime.js";
import { configureFailpoints } from "../../../src/util/failpoints.js";
import { until } from "../../helpers/until.js";
import { bareRepoWithCommit, captureOutput, readSlug, slugFile, request, runtime, suiteTempDir, testService } from "./helpers.js";

/** The real engine, but saying it gives no access to containers' layers: the caches are bind-mounted copies. */
const mountOnly: ContainerRuntime = { ...runtime, layerAccess: async () => false };

/**
 * The real engine as slugforge in a container of its own sees it: no access to its layers, and
 * at the data folder's path the engine's host has another folder (`elsewhere`), as when the data
 * folder is a volume mounted somewhere else.
 */
function engineElsewhere(elsewhere: (dir: string) => string): ContainerRuntime {
  return {
    ...mountOnly,
    runOnce: (spec, io) => runtime.runOnce({ ...spec, mounts: spec.mounts?.map((m) => ({ ...m, host: elsewhere(m.host) })) }, io),
    start: (spec) => runtime.start({ ...spec, mounts: spec.mounts?.map((m) => ({ ...m, host: elsewhere(m.host) })) }),
  };
}

describe.each<{ mode: string; engine: ContainerRuntime; links: string; env: Record<string, string> }>([
  { mode: "layer", engine: runtime, links: "can", env: {} },
  { mode: "mount", engine: mountOnly, links: "cannot", env: {} },
  // Forced here; the choice that leads to it is tested below.
  { mode: "tar", engine: mountOnly, links: "can", env: { SLUGFORGE_BUILD_CACHE_MODE: "tar" } },
])("build cache in $mode mode (real Docker)", ({ mode, engine, links, env }) => {
  const root = suiteTempDir();

  it("is kept between successful builds and left untouched by a failed one", async () => {
    expect(await engine.layerAccess()).toBe(mode === "layer");
    const data = `${root.dir}/data`;
    const service = testService(data, { runtime: engine, env });
    expect((await service.cacheMode()).mode).toBe(mode);
    const build = async (dir: string, files: Record<string, string>): Promise<{ text: string; result: Awaited<ReturnType<typeof service.build>> }> => {
      const out = captureOutput();
      const result = await service.build(request("cached", await bareRepoWithCommit(`${root.dir}/${dir}`, files)), out, new AbortController().signal);
      return { text: out.text(), result };
    };

    const first = await build("one", { CACHE: "" });
    expect(first.result.status).toBe("succeeded");
    expect(first.text).toContain("Cache count was 0");
    expect(first.text).toContain(`cache and app ${links} be hard-linked`);
    // Kept before the next build: one that waits for it takes the cache by move (see below).
    await service.idle();

    // The failing build writes the cache file in place before it fails.
    const failing = await build("two", { CACHE: "", FAIL: "" });
    expect(failing.result.error?.code).toBe("COMPILE_FAILED");
    expect(failing.text).toContain("Cache count was 1");
    expect(failing.text).toContain(" !     Failing on purpose\n");
    expect(failing.text.trimEnd().split("\n").at(-1)).toMatch(/^ ! {5}Push rejected: COMPILE_FAILED \(build [0-9a-f-]{36}\)\. Read the build output/);

    const third = await build("three", { CACHE: "" });
    expect(third.result.status).toBe("succeeded");
    expect(third.text).toContain("Cache count was 1");
    const slug = await readSlug(slugFile(data, third.result));
    expect(slug.get("./app/count-seen")?.content.trim()).toBe("1");

    const fourth = await build("four", { CACHE: "" });
    expect(fourth.text).toContain("Cache count was 2");
    await service.idle();
    // The kept cache is a folder per buildpack; the builds' working copies are gone.
    expect((await readdir(`${data}/cache/cached`)).sort()).toEqual(["cacher", "slug-members.json"]);
    await service.close();
  });
});

describe("choosing the cache mode (real Docker)", () => {
  const root = suiteTempDir();

  it("uses mount mode where the engine sees the data folder at the same path, else tar mode, and says why", async () => {
    const same = await testService(`${root.dir}/data-same`, { runtime: mountOnly }).cacheMode();
    expect(same.mode).toBe("mount");
    expect(same.why).toContain("checked with a probe container");

    // Another folder at the same path on the engine's host: the probe does not find its file there.
    const other = `${root.dir}/engine-host-folder`;
    await mkdir(other);
    const elsewhere = await testService(`${root.dir}/data-elsewhere`, { runtime: engineElsewhere(() => other) }).cacheMode();
    expect(elsewhere.mode).toBe("tar");
    expect(elsewhere.why).toContain("no such file");
    // Nothing at that path on the engine's host: refused (never made there as an empty folder).
    const missing = `${root.dir}/not-on-the-engine-host`;
    const none = await testService(`${root.dir}/data-none`, { runtime: engineElsewhere(() => missing) }).cacheMode();
    expect(none.mode).toBe("tar");
    expect(none.why).toContain("nothing: the engine refused to mount it");
    expect(await readdir(root.dir)).not.toContain("not-on-the-engine-host");
    // The probe's file is gone again.
    expect(await readdir(`${root.dir}/data-elsewhere/cache`)).toEqual([]);
  });

  it("keeps the cache in tar mode when the engine sees another folder at the data folder's path", async () => {
    const other = `${root.dir}/engine-host-cache`;
    await mkdir(other, { recursive: true });
    const service = testService(`${root.dir}/data-tar`, { runtime: engineElsewhere(() => other) });
    const build = async (dir: string): Promise<string> => {
      const out = captureOutput();
      const result = await service.build(request("elsewhere", await bareRepoWithCommit(`${root.dir}/${dir}`, { CACHE: "" })), out, new AbortController().signal);
      expect(result.status, out.text()).toBe("succeeded");
      await service.idle();
      return out.text();
    };
    expect(await build("tar-one")).toContain("Cache count was 0");
    const second = await build("tar-two");
    expect(second).toContain("Cache count was 1");
    expect(second).toContain("cache and app can be hard-linked");
    // Nothing reached the engine host's folder.
    expect(await readdir(other)).toEqual([]);
    await service.close();
  });
});

describe("build containers made ahead of time (real Docker, layer mode)", () => {
  const root = suiteTempDir();

  it("makes the app's next build container ahead of time, with the cache in it", async () => {
    expect(await runtime.layerAccess()).toBe(true);
    const service = testService(`${root.dir}/data-next`);
    const build = async (dir: string): Promise<string> => {
      const out = captureOutput();
      const result = await service.build(request("ahead", await bareRepoWithCommit(`${root.dir}/${dir}`, { CACHE: "" })), out, new AbortController().signal);
      expect(result.status, out.text()).toBe("succeeded");
      await service.idle();
      return out.text();
    };
    const running = (id: string): string => execFileSync("docker", ["inspect", "-f", "{{.State.Running}}", id], { encoding: "utf8" }).trim();
    await build("ahead-one");
    const prepared = await runtime.listContainers(`${PREPARED_LABEL}=ahead`);
    expect(prepared).toHaveLength(1);
    // Started already: the next build does not wait for a start.
    expect(running(prepared[0]!)).toBe("true");
    await build("ahead-two");
    // The prepared one ran the second build and is gone; a new one waits for the third.
    const next = await runtime.listContainers(`${PREPARED_LABEL}=ahead`);
    expect(next).toHaveLength(1);
    expect(next[0]).not.toBe(prepared[0]);
    // Killed while it waits (an engine restart does the same): the third build makes its own, with the kept cache.
    execFileSync("docker", ["kill", next[0]!], { stdio: "ignore" });
    expect(await build("ahead-three")).toContain("Cache count was 2");
    expect((await runtime.listContainers(`${PREPARED_LABEL}=ahead`)).filter((id) => id === next[0])).toEqual([]);
    await service.close();
    expect(await runtime.listContainers(`${PREPARED_LABEL}=ahead`)).toEqual([]);
  });
});

describe("a build that waits for the container its app's background work is making (real Docker, layer mode)", () => {
  const root = suiteTempDir();

  it("gets the last build's cache moved into it, not copied; the kept cache stays the one before until a build succeeds", async () => {
    const points = `${root.dir}/failpoints`;
    await mkdir(points);
    configureFailpoints(points);
    const data = `${root.dir}/data`;
    let log = "";
    const logStream = new Writable({ write: (chunk: Buffer, _enc, done) => ((log += chunk.toString()), done()) });
    const service = testService(data, { logStream });
    try {
      const build = async (dir: string, files: Record<string, string>): Promise<{ text: string; status: string }> => {
        const out = captureOutput();
        const result = await service.build(request("waiter", await bareRepoWithCommit(`${root.dir}/${dir}`, files)), out, new AbortController().signal);
        return { text: out.text(), status: result.status };
      };
      const keptCount = async (): Promise<string> => (await readFile(`${data}/cache/waiter/cacher/count`, "utf8")).trim();
      expect((await build("w-one", { CACHE: "" })).text).toContain("Cache count was 0");
      await service.idle();
      expect(await keptCount()).toBe("1");

      // The second build's background work is held before its cache goes into the next container...
      await writeFile(`${points}/waiter.arm`, "cache-copy");
      expect((await build("w-two", { CACHE: "" })).text).toContain("Cache count was 1");
      await until(() => access(`${points}/waiter.reached`).then(() => true, () => false), 60_000);
      await rm(`${points}/waiter.reached`);
      // ...until the third build waits for that container; then it goes on, and moves the cache.
      const third = build("w-three", { CACHE: "", FAIL: "" });
      await until(() => log.includes("a build waits for the container the app's background work is making"), 60_000);
      await writeFile(`${points}/waiter.go`, "");
      const failed = await third;
      expect(failed.status).toBe("failed");
      expect(failed.text).toContain("Cache count was 2");
      await service.idle();
      // The second build's cache went to the third build, which failed: the first one's is kept.
      expect(await keptCount()).toBe("1");
      expect((await readdir(`${data}/cache/waiter`)).filter((f) => f.startsWith("."))).toEqual([]);
      expect((await build("w-four", { CACHE: "" })).text).toContain("Cache count was 1");
      await service.idle();
      expect(await keptCount()).toBe("2");

      // A build that comes while the cache is being copied (a big one): the copy is stopped, and the cache moved.
      await writeFile(`${points}/waiter.arm`, "cache-copy");
      expect((await build("w-five", { CACHE: "", CACHE_BULK_MB: "600" })).text).toContain("Cache count was 2");
      await until(() => access(`${points}/waiter.reached`).then(() => true, () => false), 60_000);
      await rm(`${points}/waiter.reached`);
      log = "";
      // The container being made (the one the fifth build ran in was made ahead too, and has the label).
      const made = (await runtime.listContainers(`${PREPARED_LABEL}=waiter`)).map((id) => execFileSync("docker", ["inspect", "-f", "{{.State.Status}} {{.GraphDriver.Data.UpperDir}}", id], { encoding: "utf8" }).trim().split(" "));
      const upper = made.find(([status]) => status === "created")![1];
      await writeFile(`${points}/waiter.go`, "");
      // The copy has begun.
      await until(() => access(`${upper}/tmp/cache/cacher/bulk.bin`).then(() => true, () => false), 60_000);
      const sixth = await build("w-six", { CACHE: "" });
      expect(sixth.text).toContain("Cache count was 3");
      expect(log).toContain("copying its cache stopped");
      expect(log).toContain("its cache moved into its container, not copied");
      await service.idle();
      expect(await keptCount()).toBe("4");
      expect((await readdir(`${data}/cache/waiter`)).filter((f) => f.startsWith("."))).toEqual([]);
    } finally {
      configureFailpoints(undefined);
      await service.close();
    }
  });
});
