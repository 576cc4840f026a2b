import type Database from "better-sqlite3";
import type { ActivityAction, ActivityRecord, MetadataStore } from "./types.js";

type Row = Record<string, unknown>;

const toActivity = (r: Row): ActivityRecord => ({
  id: Number(r.id),
  app: String(r.app),
  actor: String(r.actor),
  action: r.action as ActivityAction,
  detail: String(r.detail),
  at: String(r.at),
});

/** The activity log part of the SQLite store (openSqliteStore puts it together). */
export function sqliteActivity(db: Database.Database, now: () => string): Pick<MetadataStore, "recordActivity" | "listActivity"> {
  return {
    recordActivity(entry, apply) {
      // A change's own transaction nests inside this one (better-sqlite3 makes it a savepoint).
      return db.transaction(() => {
        const result = apply();
        const detail = typeof entry.detail === "function" ? entry.detail(result) : entry.detail;
        db.prepare("INSERT INTO activity (app, actor, action, detail, at) VALUES (?, ?, ?, ?, ?)").run(entry.app, entry.actor, entry.action, detail, now());
        return result;
      })();
    },
    listActivity(app, since) {
      const rows = db.prepare("SELECT * FROM activity WHERE app = ? AND at >= ? ORDER BY id DESC").all(app, since ?? "") as Row[];
      return rows.map(toActivity);
    },
  };
}
