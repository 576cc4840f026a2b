import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { AppLocks } from "../../../src/git/app-lock.js";
import { testStore } from "../../helpers/test-store.js";

/** The app's push lock as two nodes over one PostgreSQL see it: an advisory lock on a connection of its own. */
describe("push locks across nodes on postgres", () => {
  const t = testStore("postgres");

  it("one push per app across two nodes; other apps go on; the waiter is told and gets it when freed", async () => {
    const a = t.store;
    const b = await t.another();
    const held = await a.lockPushes!("web", {});
    let waited = 0;
    let got = false;
    const waiting = b.lockPushes!("web", { onWaiting: () => waited++ }).then((release) => ((got = true), release));
    const other = await b.lockPushes!("api", {});
    await sleep(500);
    expect(got).toBe(false);
    expect(waited).toBe(1);
    held();
    const release = await waiting;
    expect(got).toBe(true);
    release();
    other();
  });

  it("a waiter whose push goes away stops waiting; a holder whose connection dies frees the lock", async () => {
    const a = t.store;
    const b = await t.another();
    const held = await a.lockPushes!("web", {});
    const controller = new AbortController();
    const waiting = b.lockPushes!("web", { signal: controller.signal });
    await sleep(300);
    controller.abort(new Error("push gone"));
    await expect(waiting).rejects.toThrow("push gone");

    // The holding node dies: its connection is ended by the server; the lock goes with it.
    const admin = new pg.Client({ connectionString: t.location });
    await admin.connect();
    try {
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'slugforge push lock'");
    } finally {
      await admin.end();
    }
    const next = await Promise.race([b.lockPushes!("web", {}), sleep(10_000).then(() => undefined)]);
    expect(next).toBeTypeOf("function");
    next!();
    held();
  });

  it("behind AppLocks: a node's own queue first, then the shared lock", async () => {
    const nodeA = new AppLocks((app, o) => t.store.lockPushes!(app, o));
    const other = await t.another();
    const nodeB = new AppLocks((app, o) => other.lockPushes!(app, o));
    const order: string[] = [];
    const first = await nodeA.acquire("web");
    const fromB = nodeB.acquire("web", { onWaitingElsewhere: () => order.push("b waits elsewhere") }).then((r) => (order.push("b"), r));
    const secondOnA = nodeA.acquire("web", { onQueued: (n) => order.push(`a queued ${n}`) }).then((r) => (order.push("a2"), r));
    await sleep(500);
    first();
    const next = await Promise.race([fromB, secondOnA]);
    next();
    (await fromB)();
    (await secondOnA)();
    expect(order.slice(0, 2).sort()).toEqual(["a queued 1", "b waits elsewhere"]);
    expect(order.slice(2).sort()).toEqual(["a2", "b"]);
  });
});
