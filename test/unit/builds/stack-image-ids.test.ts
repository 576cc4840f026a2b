import { describe, expect, it } from "vitest";
import type { ContainerRuntime, ImageInfo, ImageWatchHandlers } from "../../../src/docker/container-runtime.js";
import { createLogger } from "../../../src/log.js";
import { createStackImageIds } from "../../../src/builds/stack-image-ids.js";

const log = createLogger("silent");

/** An engine whose stack images' ids the test sets, counting inspects; it follows events when `watchable`. */
function fakeEngine(options: { watchable: boolean; refuseWatch?: boolean }) {
  const ids = new Map([
    ["slugforge/stack:s-build", "sha256:b1"],
    ["slugforge/stack:s-run", "sha256:r1"],
  ]);
  const watchers = new Set<ImageWatchHandlers>();
  let inspects = 0;
  const held: (() => void)[] = [];
  let hold = false;
  const info = (id: string): ImageInfo => ({ id, tags: [], sizeBytes: 0, createdAt: new Date(0), labels: {}, diffIds: [], os: "linux", architecture: "amd64", env: [] });
  const runtime = {
    async inspectImage(ref: string) {
      inspects += 1;
      const id = ids.get(ref);
      if (hold) await new Promise<void>((resolve) => held.push(resolve));
      return id === undefined ? undefined : info(id);
    },
    ...(options.watchable
      ? {
          async watchImages(handlers: ImageWatchHandlers) {
            if (options.refuseWatch) throw new Error("no events here");
            watchers.add(handlers);
            return { close: () => void (watchers.delete(handlers) && handlers.onEnd()) };
          },
        }
      : {}),
  } as unknown as ContainerRuntime;
  return {
    runtime,
    inspects: () => inspects,
    /** The engine's build image gets another id, and the engine tells its watchers. */
    rebuild(id: string, tell = true) {
      ids.set("slugforge/stack:s-build", id);
      if (tell) for (const w of watchers) w.onChange();
    },
    endWatches() {
      for (const w of [...watchers]) {
        watchers.delete(w);
        w.onEnd();
      }
    },
    watching: () => watchers.size,
    holdInspects(on: boolean) {
      hold = on;
    },
    release() {
      for (const resolve of held.splice(0)) resolve();
    },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("createStackImageIds", () => {
  it("asks the engine for every build when the engine's events cannot be followed", async () => {
    for (const engine of [fakeEngine({ watchable: false }), fakeEngine({ watchable: true, refuseWatch: true })]) {
      const ids = createStackImageIds(engine.runtime, log);
      expect(await ids.get("s")).toEqual({ build: "sha256:b1", run: "sha256:r1" });
      await tick();
      expect(await ids.get("s")).toEqual({ build: "sha256:b1", run: "sha256:r1" });
      expect(engine.inspects()).toBe(4);
      ids.close();
    }
  });

  it("keeps the ids while it follows the events, and drops them at any image change", async () => {
    const engine = fakeEngine({ watchable: true });
    const ids = createStackImageIds(engine.runtime, log);
    await ids.get("s"); // the watch starts here: this read is not kept
    await tick();
    expect(engine.watching()).toBe(1);
    await ids.get("s");
    expect(await ids.get("s")).toEqual({ build: "sha256:b1", run: "sha256:r1" });
    expect(engine.inspects()).toBe(4);
    engine.rebuild("sha256:b2");
    expect(await ids.get("s")).toEqual({ build: "sha256:b2", run: "sha256:r1" });
    expect(await ids.get("s")).toEqual({ build: "sha256:b2", run: "sha256:r1" });
    expect(engine.inspects()).toBe(6);
    ids.close();
    expect(engine.watching()).toBe(0);
  });

  it("keeps nothing once the event stream ended, until it follows them again", async () => {
    const engine = fakeEngine({ watchable: true });
    const ids = createStackImageIds(engine.runtime, log);
    await ids.get("s");
    await tick();
    await ids.get("s");
    engine.endWatches();
    // The change the engine could no longer tell of is seen.
    engine.rebuild("sha256:b3", false);
    expect((await ids.get("s")).build).toBe("sha256:b3");
    await tick();
    expect(engine.watching()).toBe(1);
    const before = engine.inspects();
    await ids.get("s");
    await ids.get("s");
    expect(engine.inspects()).toBe(before + 2);
    ids.close();
  });

  it("does not keep an id read while a change came in", async () => {
    const engine = fakeEngine({ watchable: true });
    const ids = createStackImageIds(engine.runtime, log);
    await ids.get("s");
    await tick();
    engine.holdInspects(true);
    const reading = ids.get("s");
    await tick();
    engine.rebuild("sha256:b4"); // after the engine answered with b1 for the build image
    engine.holdInspects(false);
    engine.release();
    expect((await reading).build).toBe("sha256:b1");
    expect((await ids.get("s")).build).toBe("sha256:b4");
    ids.close();
  });

  it("fails with STACK_MISSING, and keeps nothing, when an image is not there", async () => {
    const engine = fakeEngine({ watchable: true });
    const ids = createStackImageIds(engine.runtime, log);
    await ids.get("s");
    await tick();
    await expect(ids.get("other")).rejects.toMatchObject({ code: "STACK_MISSING" });
    await expect(ids.get("other")).rejects.toMatchObject({ code: "STACK_MISSING" });
    ids.close();
  });
});
