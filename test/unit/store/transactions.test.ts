import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { BACKENDS, testStore } from "../../helpers/test-store.js";

describe.each(BACKENDS)("store transactions among concurrent flows on %s", (backend) => {
  const t = testStore(backend);

  it("a rollback does not undo a write another flow made while the transaction was open", async () => {
    const { store } = t;
    const failing = store.transaction(async (tx) => {
      await tx.createApp("inside");
      await sleep(30);
      throw new Error("changed my mind");
    });
    await sleep(5);
    // Issued while the transaction is open: it must not land inside it.
    const outside = store.createApp("outside");
    await expect(failing).rejects.toThrow("changed my mind");
    await outside;
    expect((await store.listApps()).map((a) => a.name)).toEqual(["outside"]);
  });

  it("two concurrent transactions both keep their changes, and a third's rollback undoes only its own", async () => {
    const { store } = t;
    const one = store.transaction(async (tx) => {
      await tx.createApp("one");
      await sleep(20);
      await tx.updateConfigVars("one", { A: "1" });
      return "one";
    });
    const two = store.transaction(async (tx) => {
      await tx.createApp("two");
      await sleep(5);
      await tx.updateConfigVars("two", { B: "2" });
      return "two";
    });
    const three = store.transaction(async (tx) => {
      await tx.createApp("three");
      await sleep(5);
      throw new Error("no");
    });
    expect(await Promise.all([one, two, three.catch((err: Error) => err.message)])).toEqual(["one", "two", "no"]);
    expect((await store.listApps()).map((a) => a.name)).toEqual(["one", "two"]);
    expect(await store.getConfigVars("one")).toEqual({ A: "1" });
    expect(await store.getConfigVars("two")).toEqual({ B: "2" });
  });

  it("a savepoint's failure undoes its own changes only; the transaction goes on", async () => {
    const { store } = t;
    await store.transaction(async (tx) => {
      await tx.createApp("web");
      await expect(
        tx.transaction(async (inner) => {
          await inner.updateConfigVars("web", { GONE: "x" });
          throw new Error("inner");
        }),
      ).rejects.toThrow("inner");
      await tx.updateConfigVars("web", { KEPT: "y" });
    });
    expect(await store.getConfigVars("web")).toEqual({ KEPT: "y" });
  });

  it("a transaction's store refuses to be used once the transaction has ended", async () => {
    const { store } = t;
    const kept = await store.transaction(async (tx) => tx);
    await expect(kept.createApp("late")).rejects.toThrow(/after the transaction ended/);
    expect(await store.listApps()).toEqual([]);
  });
});

// SQLite alone: PostgreSQL makes no such promise.
describe("metadata store transactions on sqlite", () => {
  const t = testStore("sqlite");

  // SQLite's one connection: what waited for a transaction runs in order. PostgreSQL gives no such
  // order (the pool runs them at once); the build recorder chains a build's writes itself.
  it("statements issued during a transaction run after it, in the order they were issued", async () => {
    const { store } = t;
    await store.createApp("web");
    await store.createBuild({ id: "b1", app: "web", commit: "abc" });
    const open = store.transaction(async (tx) => {
      await tx.appendBuildOutput("b1", Buffer.from("0"));
      await sleep(20);
      await tx.appendBuildOutput("b1", Buffer.from("1"));
    });
    await sleep(5);
    const writes = ["2", "3", "4"].map((n) => store.appendBuildOutput("b1", Buffer.from(n)));
    await Promise.all([open, ...writes]);
    expect(Buffer.concat((await store.readBuildOutput("b1")).map((c) => c.chunk)).toString()).toBe("01234");
  });
});
