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
});
