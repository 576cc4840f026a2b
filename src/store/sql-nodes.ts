import { ACTIVE_BUILD_STATUSES } from "../build-status.js";
import type { NodeRecord, NodeStore } from "./node-types.js";
import type { Row, Sql } from "./sql.js";

const toNode = (r: Row): NodeRecord => ({
  id: String(r.id),
  instance: String(r.instance),
  startedAt: String(r.started_at),
  seenAt: (r.seen_at as string | null) ?? null,
  stoppedAt: (r.stopped_at as string | null) ?? null,
});

export const INTERRUPTED_MESSAGE = "the server stopped while this build ran";

/** The nodes part of the metadata store (sqlStore puts it together). */
export function sqlNodes(sql: Sql, now: () => string): Omit<NodeStore, "lockApp"> {
  const getNode = async (id: string): Promise<NodeRecord | undefined> => {
    const row = await sql.get("SELECT * FROM nodes WHERE id = ?", [id]);
    return row ? toNode(row) : undefined;
  };
  const active = ACTIVE_BUILD_STATUSES.map(() => "?").join(", ");
  return {
    getNode,
    listNodes: async () => (await sql.all("SELECT * FROM nodes ORDER BY id")).map(toNode),
    async claimNode({ id, instance, at }) {
      await sql.run(
        "INSERT INTO nodes (id, instance, started_at, seen_at, stopped_at) VALUES (?, ?, ?, ?, NULL) ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, started_at = excluded.started_at, seen_at = excluded.seen_at, stopped_at = NULL",
        [id, instance, at, at],
      );
      return (await getNode(id))!;
    },
    touchNode: async (id, instance, at) => (await sql.run("UPDATE nodes SET seen_at = ? WHERE id = ? AND instance = ?", [at, id, instance])) > 0,
    async stopNode(id, instance, at) {
      await sql.run("UPDATE nodes SET seen_at = NULL, stopped_at = ? WHERE id = ? AND instance = ?", [at, id, instance]);
    },
    async countActiveBuildsElsewhere(node) {
      const row = await sql.get(`SELECT COUNT(*) AS n FROM builds WHERE status IN (${active}) AND node <> ?`, [...ACTIVE_BUILD_STATUSES, node]);
      return Number(row?.n ?? 0);
    },
    async failInterruptedBuilds({ self, staleBefore }) {
      // One statement: a build still active when it runs is marked by it, and only by it (another
      // node's UPDATE that reaches the row later finds it finished). Builds from before nodes were
      // recorded (node NULL) count as this node's: there was one.
      const others = staleBefore === undefined ? "" : " OR (node <> ? AND node IN (SELECT id FROM nodes WHERE seen_at IS NULL OR seen_at < ?))";
      const rows = await sql.all(
        `UPDATE builds SET status = 'failed', error_code = 'INTERRUPTED', error_message = ?, finished_at = ?
         WHERE status IN (${active}) AND (((node = ? OR node IS NULL) AND created_at < ?)${others})
         RETURNING id, node`,
        [INTERRUPTED_MESSAGE, now(), ...ACTIVE_BUILD_STATUSES, self.id, self.startedAt, ...(staleBefore === undefined ? [] : [self.id, staleBefore])],
      );
      return rows.map((r) => ({ id: String(r.id), node: (r.node as string | null) ?? null }));
    },
  };
}
