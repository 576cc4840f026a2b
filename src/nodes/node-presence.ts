import { setTimeout as sleep } from "node:timers/promises";
import { ownerGone, processOwner } from "../docker/owner.js";
import { SlugforgeError, isDiskFull } from "../errors.js";
import type { Logger } from "../log.js";
import type { NodeStore } from "../store/node-types.js";

/** How often a node says it is alive, and how long a silence means it is gone. */
export const HEARTBEAT_MS = 5_000;
export const STALE_MS = 30_000;

export interface NodePresenceOptions {
  readonly store: NodeStore;
  /** SLUGFORGE_NODE_ID. */
  readonly nodeId: string;
  readonly log: Logger;
  readonly heartbeatMs?: number;
  readonly staleMs?: number;
  /** This process (processOwner() unless a test pretends to be another). */
  readonly instance?: string;
  /** Told when another process has taken this node's id (its builds are then marked by others). */
  readonly onLost?: () => void;
}

export interface NodePresence {
  /** When this node claimed its id: builds of its id created before are a previous process's. */
  readonly startedAt: string;
  /** Whether another node said it was alive within the stale time, at the last beat. */
  othersAlive(): boolean;
  /** A clean stop: the node's row says so, and the heartbeat ends. */
  close(): Promise<void>;
}

/**
 * This node's row in the shared store: claimed at start (refused while another live process holds
 * the same id, so two nodes never mark each other's builds), kept fresh every `heartbeatMs`, and
 * each beat also marks INTERRUPTED the builds of nodes silent for `staleMs`. A node that dies
 * mid-build is thus cleaned up by whichever node looks first, and by exactly one: every build is
 * marked by a single UPDATE that only an active build matches.
 */
export async function startNodePresence(options: NodePresenceOptions): Promise<NodePresence> {
  const { store, nodeId, log } = options;
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
  const staleMs = options.staleMs ?? STALE_MS;
  const instance = options.instance ?? processOwner();

  await waitForId(store, nodeId, instance, staleMs, heartbeatMs, log);
  const startedAt = new Date().toISOString();

  let claimed = false;
  let lost = false;
  let others = false;
  const sweep = async (): Promise<number> => {
    const marked = await store.failInterruptedBuilds({ self: { id: nodeId, startedAt }, staleBefore: new Date(Date.now() - staleMs).toISOString() });
    const byNode = new Map<string, number>();
    for (const b of marked) byNode.set(b.node ?? nodeId, (byNode.get(b.node ?? nodeId) ?? 0) + 1);
    for (const [node, builds] of byNode) {
      if (node === nodeId) log.warn({ interrupted: builds }, "builds left running by the previous process were marked failed (INTERRUPTED)");
      else log.warn({ node, interrupted: builds }, "builds left running by a node that stopped answering were marked failed (INTERRUPTED)");
    }
    return marked.length;
  };
  /** Claims the id (the first time) or keeps it fresh, then sweeps; throws what the store throws. */
  const beatOnce = async (): Promise<void> => {
    if (lost) return;
    const at = new Date().toISOString();
    if (!claimed) {
      await store.claimNode({ id: nodeId, instance, at });
      claimed = true;
    } else if (!(await store.touchNode(nodeId, instance, at))) {
      lost = true;
      log.error({ node: nodeId }, "another process has taken this node's SLUGFORGE_NODE_ID: give each node its own");
      options.onLost?.();
      return;
    }
    await sweep();
    const fresh = Date.now() - staleMs;
    others = (await store.listNodes()).some((n) => n.id !== nodeId && n.seenAt !== null && Date.parse(n.seenAt) >= fresh);
  };
  let beating: Promise<void> | undefined;
  const beat = (): void => {
    // One beat at a time: a slow database never has two in flight.
    beating ??= beatOnce()
      .catch((err: unknown) => {
        // A full disk, a database away for a moment: the next beat tries again.
        log.warn({ err }, "could not record that this node is alive (or mark the builds of nodes gone)");
      })
      .finally(() => (beating = undefined));
  };
  try {
    await beatOnce();
  } catch (err) {
    // The server still starts on a full disk (it serves reads and refuses pushes); the beats retry.
    if (!isDiskFull(err)) throw err;
    log.error({ err }, "the disk is full: builds the previous process left running are marked once there is space; pushes are refused (STORAGE_FULL)");
  }
  const timer = setInterval(beat, heartbeatMs);
  timer.unref();
  return {
    startedAt,
    othersAlive: () => others,
    async close() {
      clearInterval(timer);
      await beating;
      if (lost || !claimed) return;
      try {
        await store.stopNode(nodeId, instance, new Date().toISOString());
      } catch (err) {
        log.warn({ err }, "could not record this node's stop");
      }
    },
  };
}

/**
 * Waits while another process seems to hold the id: one on this machine that is provably gone,
 * or one that stopped cleanly, never blocks; one elsewhere is given `staleMs` of silence. One
 * that keeps its row fresh meanwhile is alive: the start is refused.
 */
async function waitForId(store: NodeStore, nodeId: string, instance: string, staleMs: number, heartbeatMs: number, log: Logger): Promise<void> {
  const holder = await store.getNode(nodeId);
  if (!holder || holder.instance === instance || holder.seenAt === null || ownerGone(holder.instance)) return;
  const silentMs = Date.now() - Date.parse(holder.seenAt);
  if (silentMs >= staleMs) return;
  log.warn({ node: nodeId, seenMsAgo: silentMs }, "another process used this SLUGFORGE_NODE_ID moments ago; waiting to see whether it is still alive");
  await sleep(staleMs - silentMs + heartbeatMs);
  const now = await store.getNode(nodeId);
  if (now && now.instance === holder.instance && now.seenAt !== null && now.seenAt !== holder.seenAt) {
    throw new SlugforgeError(
      "CONFIG_INVALID",
      `SLUGFORGE_NODE_ID=${nodeId} is in use by another running slugforge (it said it was alive at ${now.seenAt}); give each node its own SLUGFORGE_NODE_ID`,
    );
  }
}
