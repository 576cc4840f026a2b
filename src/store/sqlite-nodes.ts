import type Database from "better-sqlite3";
import { ACTIVE_BUILD_STATUSES } from "../build-status.js";
import type { NodeRecord, NodeStore } from "./node-types.js";

type Row = Record<string, unknown>;

const toNode = (r: Row): NodeRecord => ({
  id: String(r.id),
  instance: String(r.instance),
  startedAt: String(r.started_at),
  seenAt: (r.seen_at as string | null) ?? null,
  stoppedAt: (r.stopped_at as string | null) ?? null,
});

export const INTERRUPTED_MESSAGE = "the server stopped while this build ran";

/** The nodes part of the SQLite store (openSqliteStore puts it together). */
export function sqliteNodes(db: Database.Database, now: () => string): NodeStore {
  const getNode = (id: string): NodeRecord | undefined => {
    const row = db.prepare("SELECT * FROM nodes WHERE id = ?").get(id) as Row | undefined;
    return row ? toNode(row) : undefined;
  };
  const active = ACTIVE_BUILD_STATUSES.map(() => "?").join(", ");
  return {
    getNode,
    listNodes: () => (db.prepare("SELECT * FROM nodes ORDER BY id").all() as Row[]).map(toNode),
    claimNode({ id, instance, at }) {
      db.prepare(
        "INSERT INTO nodes (id, instance, started_at, seen_at, stopped_at) VALUES (?, ?, ?, ?, NULL) ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, started_at = excluded.started_at, seen_at = excluded.seen_at, stopped_at = NULL",
      ).run(id, instance, at, at);
      return getNode(id)!;
    },
    touchNode: (id, instance, at) => db.prepare("UPDATE nodes SET seen_at = ? WHERE id = ? AND instance = ?").run(at, id, instance).changes > 0,
    stopNode(id, instance, at) {
      db.prepare("UPDATE nodes SET seen_at = NULL, stopped_at = ? WHERE id = ? AND instance = ?").run(at, id, instance);
    },
    failInterruptedBuilds({ self, staleBefore }) {
      // Builds from before nodes were recorded (node NULL) count as this node's: there was one.
      return db.transaction(() => {
        const rows = db
          .prepare(
            `SELECT id, node FROM builds WHERE status IN (${active}) AND (
               ((node = ? OR node IS NULL) AND created_at < ?)
               OR (? IS NOT NULL AND node <> ? AND node IN (SELECT id FROM nodes WHERE seen_at IS NULL OR seen_at < ?))
             )`,
          )
          .all(...ACTIVE_BUILD_STATUSES, self.id, self.startedAt, staleBefore ?? null, self.id, staleBefore ?? null) as Row[];
        const mark = db.prepare(
          `UPDATE builds SET status = 'failed', error_code = 'INTERRUPTED', error_message = ?, finished_at = ? WHERE id = ? AND status IN (${active})`,
        );
        const at = now();
        return rows
          .filter((r) => mark.run(INTERRUPTED_MESSAGE, at, String(r.id), ...ACTIVE_BUILD_STATUSES).changes > 0)
          .map((r) => ({ id: String(r.id), node: (r.node as string | null) ?? null }));
      })();
    },
  };
}
