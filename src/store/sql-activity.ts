import type { Row, Sql } from "./sql.js";
import type { ActivityAction, ActivityRecord, MetadataTx } from "./types.js";

const toActivity = (r: Row): ActivityRecord => ({
  id: Number(r.id),
  app: String(r.app),
  actor: String(r.actor),
  action: r.action as ActivityAction,
  detail: String(r.detail),
  at: String(r.at),
});

/** The activity log part of the metadata store (sqlStore puts it together; `storeOn` is its store on a transaction). */
export function sqlActivity(sql: Sql, now: () => string, storeOn: (t: Sql) => MetadataTx): Pick<MetadataTx, "recordActivity" | "listActivity"> {
  return {
    recordActivity(entry, apply) {
      // A change's own transaction nests inside this one (a savepoint).
      return sql.transaction(async (t) => {
        const result = await apply(storeOn(t));
        const detail = typeof entry.detail === "function" ? entry.detail(result) : entry.detail;
        await t.run("INSERT INTO activity (app, actor, action, detail, at) VALUES (?, ?, ?, ?, ?)", [entry.app, entry.actor, entry.action, detail, now()]);
        return result;
      });
    },
    async listActivity(app, since) {
      const rows = await sql.all("SELECT * FROM activity WHERE app = ? AND at >= ? ORDER BY id DESC", [app, since ?? ""]);
      return rows.map(toActivity);
    },
  };
}
