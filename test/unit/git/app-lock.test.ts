import { describe, expect, it } from "vitest";
import { AppLocks } from "../../../src/git/app-lock.js";

describe("AppLocks", () => {
  it("grants in FIFO order per app and reports positions", async () => {
    const locks = new AppLocks();
    const order: string[] = [];
    const positions: number[] = [];
    const first = await locks.acquire("a");
    const second = locks.acquire("a", { onQueued: (p) => positions.push(p) }).then((r) => (order.push("second"), r));
    const third = locks.acquire("a", { onQueued: (p) => positions.push(p) }).then((r) => (order.push("third"), r));
    const other = await locks.acquire("b");
    expect(positions).toEqual([1, 2]);
    expect(locks.depth("a")).toBe(3);
    first();
    (await second)();
    (await third)();
    other();
    expect(order).toEqual(["second", "third"]);
    expect(locks.depth("a")).toBe(0);
  });

  it("a waiter whose signal aborts leaves the queue; releasing twice is harmless", async () => {
    const locks = new AppLocks();
    const release = await locks.acquire("a");
    const controller = new AbortController();
    const waiting = locks.acquire("a", { signal: controller.signal });
    controller.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    expect(locks.depth("a")).toBe(1);
    release();
    release();
    expect(locks.depth("a")).toBe(0);
    (await locks.acquire("a"))();
  });

  it("with a shared lock, one push per app runs across nodes; the node's own queue is kept first", async () => {
    // The store's lock stands here as one more AppLocks that both nodes ask.
    const store = new AppLocks();
    const shared = (app: string, o: { signal?: AbortSignal; onWaiting?: () => void }) => store.acquire(app, { signal: o.signal, onQueued: () => o.onWaiting?.() });
    const nodeA = new AppLocks(shared);
    const nodeB = new AppLocks(shared);
    const said: string[] = [];
    const onA = await nodeA.acquire("web");
    let bHeld = false;
    const onB = nodeB.acquire("web", { onWaitingElsewhere: () => said.push("elsewhere") }).then((r) => ((bHeld = true), r));
    const otherApp = await nodeB.acquire("api");
    await new Promise((r) => setTimeout(r, 10));
    expect(bHeld).toBe(false);
    expect(said).toEqual(["elsewhere"]);
    onA();
    (await onB)();
    otherApp();
    expect(store.depth("web") + store.depth("api") + nodeA.depth("web") + nodeB.depth("web")).toBe(0);
  });

  it("a shared lock that fails or is aborted gives back the node's own lock", async () => {
    const failing = new AppLocks(() => Promise.reject(new Error("database away")));
    await expect(failing.acquire("web")).rejects.toThrow("database away");
    expect(failing.depth("web")).toBe(0);
    const store = new AppLocks();
    const held = await store.acquire("web");
    const node = new AppLocks((app, o) => store.acquire(app, { signal: o.signal }));
    const controller = new AbortController();
    const waiting = node.acquire("web", { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 10));
    expect(node.depth("web")).toBe(1);
    controller.abort(new Error("push gone"));
    await expect(waiting).rejects.toThrow("push gone");
    expect(node.depth("web")).toBe(0);
    held();
  });
});
