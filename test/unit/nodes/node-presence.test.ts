import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { processOwner } from "../../../src/docker/owner.js";
import { createLogger } from "../../../src/log.js";
import { startNodePresence, type NodePresence } from "../../../src/nodes/node-presence.js";
import type { MetadataStore } from "../../../src/store/types.js";
import { BACKENDS, testStore } from "../../helpers/test-store.js";

const log = createLogger("silent");
/** An instance on another machine: its pid cannot be judged from here. */
const ELSEWHERE = "00000000-0000-0000-0000-000000000000/4026531836/1/1";
const ago = (ms: number): string => new Date(Date.now() - ms).toISOString();

describe.each(BACKENDS)("nodes over one store on %s", (backend) => {
  const t = testStore(backend);
  let store: MetadataStore;
  const presences: NodePresence[] = [];
  const building = async (id: string, node: string | undefined): Promise<void> => {
    await store.createBuild({ id, app: "web", commit: "c".repeat(40), node });
    await store.updateBuild(id, { status: "building" });
  };

  beforeEach(async () => {
    store = t.store;
    await store.createApp("web");
  });
  afterEach(async () => {
    for (const p of presences.splice(0)) await p.close();
  });

  it("keeps the node that ran each build", async () => {
    await store.createBuild({ id: "b1", app: "web", commit: "abc", node: "node-a" });
    expect((await store.getBuild("b1"))?.node).toBe("node-a");
    await store.createBuild({ id: "b2", app: "web", commit: "abc" });
    expect((await store.getBuild("b2"))?.node).toBeNull();
  });

  it("marks a node's own builds from before its start, and another node's only once that node is silent", async () => {
    await building("old-mine", "a");
    await building("legacy", undefined);
    await building("theirs", "b");
    await store.claimNode({ id: "b", instance: ELSEWHERE, at: ago(1_000) });
    await sleep(5);
    const startedAt = new Date().toISOString();
    const first = await store.failInterruptedBuilds({ self: { id: "a", startedAt }, staleBefore: ago(30_000) });
    expect(first.map((b) => b.id).sort()).toEqual(["legacy", "old-mine"]);
    expect((await store.getBuild("theirs"))?.status).toBe("building");

    await store.touchNode("b", ELSEWHERE, ago(60_000));
    expect(await store.failInterruptedBuilds({ self: { id: "a", startedAt }, staleBefore: ago(30_000) })).toEqual([{ id: "theirs", node: "b" }]);
    expect(await store.getBuild("theirs")).toMatchObject({ status: "failed", errorCode: "INTERRUPTED" });
  });

  it("never lets two nodes both mark one build, even at the same moment", async () => {
    for (let i = 0; i < 20; i++) await building(`gone-${i}`, "dead");
    await store.claimNode({ id: "dead", instance: ELSEWHERE, at: ago(120_000) });
    const other = await t.another();
    const scope = (id: string) => ({ self: { id, startedAt: ago(0) }, staleBefore: ago(30_000) });
    const marked = (await Promise.all([store.failInterruptedBuilds(scope("a")), other.failInterruptedBuilds(scope("b"))])).flat();
    expect(marked).toHaveLength(20);
    expect(new Set(marked.map((b) => b.id)).size).toBe(20);
  });

  it("claims its id at start, beats, and marks a silent node's builds on a beat", async () => {
    const a = await startNodePresence({ store, nodeId: "a", log, heartbeatMs: 20, staleMs: 200 });
    presences.push(a);
    expect(await store.getNode("a")).toMatchObject({ instance: processOwner(), stoppedAt: null });
    const seen = (await store.getNode("a"))!.seenAt;
    await building("on-b", "b");
    await store.claimNode({ id: "b", instance: ELSEWHERE, at: ago(0) });
    await sleep(100);
    expect((await store.getNode("a"))!.seenAt).not.toBe(seen);
    expect((await store.getBuild("on-b"))?.status).toBe("building");
    expect(a.othersAlive()).toBe(true);
    await sleep(500);
    expect(await store.getBuild("on-b")).toMatchObject({ status: "failed", errorCode: "INTERRUPTED" });
    expect(a.othersAlive()).toBe(false);
    await a.close();
    expect(await store.getNode("a")).toMatchObject({ seenAt: null });
    expect((await store.getNode("a"))!.stoppedAt).not.toBeNull();
  });

  it("refuses to start while another live process holds the same id", async () => {
    const first = await startNodePresence({ store, nodeId: "twin", log, heartbeatMs: 20, staleMs: 150, instance: ELSEWHERE });
    presences.push(first);
    const started = Date.now();
    await expect(startNodePresence({ store: await t.another(), nodeId: "twin", log, heartbeatMs: 20, staleMs: 150 })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringMatching(/SLUGFORGE_NODE_ID=twin is in use by another running slugforge/),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it("takes over at once an id whose process on this machine is gone, or that stopped cleanly", async () => {
    const dead = processOwner().replace(/\/\d+\/\d+$/, "/999999999/1");
    await store.claimNode({ id: "here", instance: dead, at: ago(0) });
    await building("left", "here");
    await sleep(5);
    const started = Date.now();
    const p = await startNodePresence({ store, nodeId: "here", log, staleMs: 60_000 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await store.getBuild("left")).toMatchObject({ status: "failed", errorCode: "INTERRUPTED" });
    await p.close();
    await sleep(5);
    const again = await startNodePresence({ store, nodeId: "here", log, staleMs: 60_000 });
    presences.push(again);
    expect(again.startedAt > p.startedAt).toBe(true);
  });

  it("says so when another process takes its id, and stops marking", async () => {
    let lost = 0;
    const p = await startNodePresence({ store, nodeId: "a", log, heartbeatMs: 20, staleMs: 1_000, onLost: () => lost++ });
    presences.push(p);
    await store.claimNode({ id: "a", instance: ELSEWHERE, at: ago(0) });
    await sleep(150);
    expect(lost).toBe(1);
    await p.close();
    expect(await store.getNode("a")).toMatchObject({ instance: ELSEWHERE, stoppedAt: null });
  });
});
