import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { processOwner } from "../../../src/docker/owner.js";
import { createLogger } from "../../../src/log.js";
import { startNodePresence, type NodePresence } from "../../../src/nodes/node-presence.js";
import { openSqliteStore } from "../../../src/store/sqlite-store.js";
import type { MetadataStore } from "../../../src/store/types.js";

const log = createLogger("silent");
/** An instance on another machine: its pid cannot be judged from here. */
const ELSEWHERE = "00000000-0000-0000-0000-000000000000/4026531836/1/1";

describe("nodes over one store", () => {
  let dir: string;
  let store: MetadataStore;
  const opened: MetadataStore[] = [];
  const presences: NodePresence[] = [];
  const open = (): MetadataStore => {
    const s = openSqliteStore(path.join(dir, "meta.db"));
    opened.push(s);
    return s;
  };
  const building = (id: string, node: string | undefined): void => {
    store.createBuild({ id, app: "web", commit: "c".repeat(40), node });
    store.updateBuild(id, { status: "building" });
  };
  const ago = (ms: number): string => new Date(Date.now() - ms).toISOString();

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sf-nodes-"));
    store = open();
    store.createApp("web");
  });
  afterEach(() => {
    for (const p of presences.splice(0)) p.close();
    for (const s of opened.splice(0)) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the node that ran each build", () => {
    store.createBuild({ id: "b1", app: "web", commit: "abc", node: "node-a" });
    expect(store.getBuild("b1")?.node).toBe("node-a");
    store.createBuild({ id: "b2", app: "web", commit: "abc" });
    expect(store.getBuild("b2")?.node).toBeNull();
  });

  it("marks a node's own builds from before its start, and another node's only once that node is silent", () => {
    building("old-mine", "a");
    building("legacy", undefined);
    building("theirs", "b");
    store.claimNode({ id: "b", instance: ELSEWHERE, at: ago(1_000) });
    const startedAt = new Date(Date.now() + 1).toISOString();
    const first = store.failInterruptedBuilds({ self: { id: "a", startedAt }, staleBefore: ago(30_000) });
    expect(first.map((b) => b.id).sort()).toEqual(["legacy", "old-mine"]);
    expect(store.getBuild("theirs")?.status).toBe("building");

    store.touchNode("b", ELSEWHERE, ago(60_000));
    expect(store.failInterruptedBuilds({ self: { id: "a", startedAt }, staleBefore: ago(30_000) })).toEqual([{ id: "theirs", node: "b" }]);
    expect(store.getBuild("theirs")).toMatchObject({ status: "failed", errorCode: "INTERRUPTED" });
  });

  it("never lets two nodes both mark one build", () => {
    for (let i = 0; i < 20; i++) building(`gone-${i}`, "dead");
    store.claimNode({ id: "dead", instance: ELSEWHERE, at: ago(120_000) });
    const other = open();
    const scope = (id: string) => ({ self: { id, startedAt: ago(0) }, staleBefore: ago(30_000) });
    const marked = [store.failInterruptedBuilds(scope("a")), other.failInterruptedBuilds(scope("b"))].flat();
    expect(marked).toHaveLength(20);
    expect(new Set(marked.map((b) => b.id)).size).toBe(20);
  });

  it("claims its id at start, beats, and marks a silent node's builds on a beat", async () => {
    const a = await startNodePresence({ store, nodeId: "a", log, heartbeatMs: 20, staleMs: 200 });
    presences.push(a);
    expect(store.getNode("a")).toMatchObject({ instance: processOwner(), stoppedAt: null });
    const seen = store.getNode("a")!.seenAt;
    building("on-b", "b");
    store.claimNode({ id: "b", instance: ELSEWHERE, at: ago(0) });
    await sleep(100);
    expect(store.getNode("a")!.seenAt).not.toBe(seen);
    expect(store.getBuild("on-b")?.status).toBe("building");
    await sleep(400);
    expect(store.getBuild("on-b")).toMatchObject({ status: "failed", errorCode: "INTERRUPTED" });
    a.close();
    expect(store.getNode("a")).toMatchObject({ seenAt: null });
    expect(store.getNode("a")!.stoppedAt).not.toBeNull();
  });

  it("refuses to start while another live process holds the same id", async () => {
    const first = await startNodePresence({ store, nodeId: "twin", log, heartbeatMs: 20, staleMs: 150, instance: ELSEWHERE });
    presences.push(first);
    const started = Date.now();
    await expect(startNodePresence({ store: open(), nodeId: "twin", log, heartbeatMs: 20, staleMs: 150 })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: expect.stringMatching(/SLUGFORGE_NODE_ID=twin is in use by another running slugforge/),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it("takes over at once an id whose process on this machine is gone, or that stopped cleanly", async () => {
    const dead = processOwner().replace(/\/\d+\/\d+$/, "/999999999/1");
    store.claimNode({ id: "here", instance: dead, at: ago(0) });
    building("left", "here");
    await sleep(5);
    const started = Date.now();
    const p = await startNodePresence({ store, nodeId: "here", log, staleMs: 60_000 });
    presences.push(p);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(store.getBuild("left")).toMatchObject({ status: "failed", errorCode: "INTERRUPTED" });
    p.close();
    await sleep(5);
    const again = await startNodePresence({ store, nodeId: "here", log, staleMs: 60_000 });
    presences.push(again);
    expect(again.startedAt > p.startedAt).toBe(true);
  });

  it("says so when another process takes its id, and stops marking", async () => {
    let lost = 0;
    const p = await startNodePresence({ store, nodeId: "a", log, heartbeatMs: 20, staleMs: 1_000, onLost: () => lost++ });
    presences.push(p);
    store.claimNode({ id: "a", instance: ELSEWHERE, at: ago(0) });
    await sleep(120);
    expect(lost).toBe(1);
    p.close();
    expect(store.getNode("a")).toMatchObject({ instance: ELSEWHERE, stoppedAt: null });
  });
});
