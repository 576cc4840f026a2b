import { describe, expect, it } from "vitest";
import { createBuildQueue, type QueueWait } from "../../../src/builds/build-queue.js";

const deferred = (): { promise: Promise<void>; resolve(): void } => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe("build queue", () => {
  it("caps concurrency globally and tells later builds how many are ahead", async () => {
    const q = createBuildQueue(1);
    const waits: QueueWait[] = [];
    const a = deferred();
    const first = q.run("a", new AbortController().signal, (w) => waits.push(w), () => a.promise.then(() => "a"));
    await tick();
    const second = q.run("b", new AbortController().signal, (w) => waits.push(w), async () => "b");
    await tick();
    expect(waits).toEqual([{ sameApp: false, running: 1, waiting: 0 }]);
    a.resolve();
    expect(await Promise.all([first, second])).toEqual(["a", "b"]);
  });

  it("runs one build per app at a time, even with free slots", async () => {
    const q = createBuildQueue(4);
    const order: string[] = [];
    const a = deferred();
    const waits: QueueWait[] = [];
    const one = q.run("app", new AbortController().signal, () => undefined, async () => {
      order.push("one:start");
      await a.promise;
      order.push("one:end");
    });
    const two = q.run("app", new AbortController().signal, (w) => waits.push(w), async () => {
      order.push("two:start");
    });
    await tick();
    expect(order).toEqual(["one:start"]);
    expect(waits[0]?.sameApp).toBe(true);
    a.resolve();
    await Promise.all([one, two]);
    expect(order).toEqual(["one:start", "one:end", "two:start"]);
  });

  it("a build aborted while waiting rejects at once and never runs; a started one keeps its slot", async () => {
    const q = createBuildQueue(1);
    const a = deferred();
    const started = new AbortController();
    const first = q.run("a", started.signal, () => undefined, () => a.promise.then(() => "done"));
    const waiting = new AbortController();
    let ran = false;
    const second = q.run("b", waiting.signal, () => undefined, async () => {
      ran = true;
    });
    await tick();
    waiting.abort(new Error("gone"));
    await expect(second).rejects.toThrow("gone");
    started.abort(new Error("ignored once started"));
    await tick();
    expect(q.running).toBe(1);
    a.resolve();
    expect(await first).toBe("done");
    await tick();
    expect(ran).toBe(false);
  });
});
