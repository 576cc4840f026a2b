import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { ContainerRuntime, ImageInfo } from "../../../src/docker/container-runtime.js";
import { chooseEngine, createEnginePool } from "../../../src/docker/engine-pool.js";
import { isSlugforgeError } from "../../../src/errors.js";
import { silentLogger } from "../../../src/log.js";

/** A fake engine at our own interface: it answers pings or not, and holds images by ref -> id. */
class FakeEngine {
  answering = true;
  /** A ping's answer (as it was when asked) comes this much later. */
  pingDelayMs = 0;
  readonly images = new Map<string, string>();
  loads = 0;

  runtime(): ContainerRuntime {
    const down = (): never => {
      throw new Error("connect ENOENT");
    };
    const info = (ref: string): ImageInfo | undefined => {
      const id = this.images.get(ref);
      return id === undefined
        ? undefined
        : { id, tags: [ref], sizeBytes: 1, createdAt: new Date(0), labels: {}, diffIds: [], os: "linux", architecture: "amd64", env: [] };
    };
    const partial: Partial<ContainerRuntime> = {
      ping: async () => {
        const answering = this.answering;
        if (this.pingDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.pingDelayMs));
        return answering ? { version: "fake" } : down();
      },
      inspectImage: async (ref) => (this.answering ? info(ref) : down()),
      saveImage: async (ref) => (this.answering ? Readable.from([JSON.stringify({ ref, id: this.images.get(ref) })]) : down()),
      loadImage: async (tar) => {
        if (!this.answering) down();
        let text = "";
        for await (const chunk of tar) text += String(chunk);
        const { ref, id } = JSON.parse(text) as { ref: string; id: string };
        this.images.set(ref, id);
        this.loads++;
      },
    };
    return partial as ContainerRuntime;
  }
}

const IMAGES = ["slugforge/stack:s-build", "slugforge/stack:s-run"];

function twoEngines() {
  const a = new FakeEngine();
  const b = new FakeEngine();
  a.images.set(IMAGES[0]!, "sha256:build1");
  a.images.set(IMAGES[1]!, "sha256:run1");
  const pool = createEnginePool({
    engines: [
      { url: "unix:///a.sock", runtime: a.runtime() },
      { url: "unix:///b.sock", runtime: b.runtime() },
    ],
    log: silentLogger(),
    images: IMAGES,
    checkMs: 0,
    pingTimeoutMs: 200,
    confirmMs: 300,
  });
  return { a, b, pool };
}

describe("chooseEngine", () => {
  it("takes the engine with the fewest running builds, the earlier one on a tie", () => {
    expect(chooseEngine([{ up: true, running: 1, preferred: false }, { up: true, running: 0, preferred: false }])).toBe(1);
    expect(chooseEngine([{ up: true, running: 0, preferred: false }, { up: true, running: 0, preferred: false }])).toBe(0);
  });

  it("prefers the engine holding the app's prepared container when it runs at most one build more", () => {
    expect(chooseEngine([{ up: true, running: 0, preferred: false }, { up: true, running: 0, preferred: true }])).toBe(1);
    expect(chooseEngine([{ up: true, running: 0, preferred: false }, { up: true, running: 1, preferred: true }])).toBe(1);
    expect(chooseEngine([{ up: true, running: 0, preferred: false }, { up: true, running: 2, preferred: true }])).toBe(0);
  });

  it("never picks an engine that is not up, and says when none is", () => {
    expect(chooseEngine([{ up: false, running: 0, preferred: true }, { up: true, running: 5, preferred: false }])).toBe(1);
    expect(chooseEngine([{ up: false, running: 0, preferred: false }])).toBeUndefined();
  });
});

describe("createEnginePool", () => {
  it("brings engines up after a first answer, copying the stack images to the one that lacks them", async () => {
    const { b, pool } = twoEngines();
    expect(pool.status().map((e) => e.state)).toEqual(["down", "down"]);
    await pool.check();
    await pool.settled();
    expect(pool.status().map((e) => e.state)).toEqual(["up", "up"]);
    expect(b.images.get(IMAGES[0]!)).toBe("sha256:build1");
    expect(b.images.get(IMAGES[1]!)).toBe("sha256:run1");
    expect(b.loads).toBe(2);
    // Copied once: the next time it comes up the ids agree.
    b.answering = false;
    await pool.check();
    b.answering = true;
    await pool.check();
    await pool.settled();
    expect(b.loads).toBe(2);
  });

  it("replaces an engine's stack image whose id differs from the primary's, never the primary's", async () => {
    const { a, b, pool } = twoEngines();
    b.images.set(IMAGES[0]!, "sha256:old");
    await pool.check();
    await pool.settled();
    expect(b.images.get(IMAGES[0]!)).toBe("sha256:build1");
    expect(a.images.get(IMAGES[0]!)).toBe("sha256:build1");
  });

  it("copies the primary's stack image again once it was made anew, keeping builds off the engine meanwhile", async () => {
    const { a, b, pool } = twoEngines();
    await pool.check();
    await pool.settled();
    a.images.set(IMAGES[0]!, "sha256:build2");
    await pool.check();
    expect(pool.status()[1]!.state).toBe("loading");
    expect(pool.acquire().engine.url).toBe("unix:///a.sock");
    await pool.settled();
    expect(pool.status()[1]!.state).toBe("up");
    expect(b.images.get(IMAGES[0]!)).toBe("sha256:build2");
    expect(b.loads).toBe(3);
  });

  it("spreads leases by running builds and counts them back on release", async () => {
    const { pool } = twoEngines();
    await pool.check();
    await pool.settled();
    const first = pool.acquire();
    const second = pool.acquire();
    expect([first.engine.url, second.engine.url]).toEqual(["unix:///a.sock", "unix:///b.sock"]);
    expect(pool.status().map((e) => e.running)).toEqual([1, 1]);
    first.release();
    first.release();
    expect(pool.status().map((e) => e.running)).toEqual([0, 1]);
    expect(pool.acquire((e) => e.url === "unix:///b.sock").engine.url).toBe("unix:///b.sock");
  });

  it("marks an engine that stops answering down: its leases abort with ENGINE_DOWN, new builds go elsewhere, and it comes back", async () => {
    const { b, pool } = twoEngines();
    await pool.check();
    await pool.settled();
    pool.acquire();
    const onB = pool.acquire();
    expect(onB.engine.url).toBe("unix:///b.sock");
    b.answering = false;
    await pool.check();
    expect(onB.signal.aborted).toBe(true);
    const reason: unknown = onB.signal.reason;
    expect(isSlugforgeError(reason) && reason.code).toBe("ENGINE_DOWN");
    const down = pool.status()[1]!;
    expect(down.state).toBe("down");
    expect(down.lastError).toContain("ENOENT");
    onB.release();
    expect(pool.acquire().engine.url).toBe("unix:///a.sock");
    expect(pool.acquire().engine.url).toBe("unix:///a.sock");

    b.answering = true;
    await pool.check();
    await pool.settled();
    expect(pool.status()[1]).toMatchObject({ state: "up", lastError: undefined });
    const again = pool.acquire();
    expect(again.engine.url).toBe("unix:///b.sock");
    expect(again.signal.aborted).toBe(false);
  });

  it("confirms an engine gone after a failed build, and not one that answers", async () => {
    const { b, pool } = twoEngines();
    await pool.check();
    await pool.settled();
    const [, onB] = [pool.acquire(), pool.acquire()];
    expect(await pool.confirmDown(onB!.engine)).toBe(false);
    b.answering = false;
    expect(await pool.confirmDown(onB!.engine)).toBe(true);
    expect(onB!.signal.aborted).toBe(true);
  });

  it("keeps asking an engine that still answers for a moment, as a stopping one does", async () => {
    const { b, pool } = twoEngines();
    await pool.check();
    await pool.settled();
    const [, onB] = [pool.acquire(), pool.acquire()];
    setTimeout(() => (b.answering = false), 100);
    expect(await pool.confirmDown(onB!.engine)).toBe(true);
    expect(pool.status()[1]!.state).toBe("down");
  });

  it("does not bring an engine back on the answer to a ping sent before it was found down", async () => {
    const { b, pool } = twoEngines();
    await pool.check();
    await pool.settled();
    // A check asks while the engine still answers; the answer comes late.
    b.pingDelayMs = 200;
    const checking = pool.check();
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Meanwhile a build found it gone (its pings now fail at once).
    b.pingDelayMs = 0;
    b.answering = false;
    const onB = pool.status()[1]!;
    expect(onB.state).toBe("up");
    expect(await pool.confirmDown(pool.engines[1]!)).toBe(true);
    // Answering again (the images still there), the stale answer lands: still down until the next check.
    b.answering = true;
    await checking;
    await pool.settled();
    expect(pool.status()[1]!.state).toBe("down");
    await pool.check();
    await pool.settled();
    expect(pool.status()[1]!.state).toBe("up");
  });

  it("counts an engine whose ping hangs as down", async () => {
    const { pool } = twoEngines();
    const hung = new PassThrough();
    const slow = createEnginePool({
      engines: [
        { url: "unix:///a.sock", runtime: pool.engines[0]!.runtime },
        { url: "unix:///slow.sock", runtime: { ping: () => new Promise(() => hung) } as unknown as ContainerRuntime },
      ],
      log: silentLogger(),
      checkMs: 0,
      pingTimeoutMs: 50,
    });
    await slow.check();
    expect(slow.status()[1]).toMatchObject({ state: "down" });
    expect(slow.status()[1]!.lastError).toContain("no answer within 50 ms");
  });

  it("keeps an engine whose stack images cannot be had down, saying why", async () => {
    const a = new FakeEngine();
    const b = new FakeEngine();
    const pool = createEnginePool({
      engines: [
        { url: "unix:///a.sock", runtime: a.runtime() },
        { url: "unix:///b.sock", runtime: b.runtime() },
      ],
      log: silentLogger(),
      images: IMAGES,
      checkMs: 0,
    });
    await pool.check();
    await pool.settled();
    expect(pool.status().map((e) => e.state)).toEqual(["down", "down"]);
    expect(pool.status()[1]!.lastError).toContain("slugforge setup");
    // None up: a build goes to the primary, and meets what the engine says there.
    expect(pool.acquire().engine.primary).toBe(true);
  });

  it("treats a pool of one engine as up without checking it", () => {
    const pool = createEnginePool({ engines: [{ url: "unix:///only.sock", runtime: new FakeEngine().runtime() }], log: silentLogger() });
    expect(pool.status()[0]).toMatchObject({ state: "up", primary: true });
  });
});
