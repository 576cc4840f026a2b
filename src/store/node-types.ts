/**
 * The slugforge processes (nodes) that share one metadata store. Each node keeps its row fresh
 * while it runs; a row that goes stale belongs to a node that died, and another node marks the
 * builds it left running INTERRUPTED. With the embedded store there is one node.
 */
export interface NodeRecord {
  /** SLUGFORGE_NODE_ID (the hostname by default). */
  readonly id: string;
  /** The process holding the id now (processOwner(): boot id, pid namespace, pid, start time). */
  readonly instance: string;
  readonly startedAt: string;
  /** When the node last said it was alive; null once it stopped cleanly. */
  readonly seenAt: string | null;
  readonly stoppedAt: string | null;
}

/** What the node presence loop needs from the store. */
export interface NodeStore {
  getNode(id: string): Promise<NodeRecord | undefined>;
  listNodes(): Promise<NodeRecord[]>;
  /** Takes the id for this process (whoever held it before): a new row or the old one overwritten. */
  claimNode(node: { id: string; instance: string; at: string }): Promise<NodeRecord>;
  /** Keeps the row fresh; false when another process has taken the id since (the caller stops building). */
  touchNode(id: string, instance: string, at: string): Promise<boolean>;
  /** A clean stop: the row stays (for the listing), marked stopped. */
  stopNode(id: string, instance: string, at: string): Promise<void>;
  /**
   * Marks the builds a node left running INTERRUPTED: this node's own from before it started
   * (`self`), and those of every other node not seen since `staleBefore`. Each build is taken by
   * one UPDATE, so two nodes never both mark it. Returns the builds marked, with their node.
   */
  failInterruptedBuilds(scope: { self: { id: string; startedAt: string }; staleBefore?: string }): Promise<{ id: string; node: string | null }[]>;
  /** How many builds run or wait on nodes other than `node` (those still marked active). */
  countActiveBuildsElsewhere(node: string): Promise<number>;
  /**
   * The app's push lock as every node sharing this store sees it (PostgreSQL: an advisory lock
   * held on a connection of its own); resolves with its release once held. Absent where the store
   * has one node (SQLite): the node's own lock is all there is.
   */
  lockPushes?(app: string, options: { signal?: AbortSignal; onWaiting?: () => void }): Promise<() => void>;
}
