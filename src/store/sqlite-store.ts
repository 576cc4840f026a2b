import { chmodSync, closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations.js";
import type { Row } from "./sql.js";
import { sqlStore } from "./sql-store.js";
import { sqliteSql } from "./sqlite-sql.js";
import type { MetadataStore } from "./types.js";

/** The embedded metadata store: SQLite in the data folder (WAL, foreign keys, one transaction per change). */
export function openSqliteStore(file: string): MetadataStore {
  makePrivate(file);
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  makePrivate(file);
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);

  const sql = sqliteSql(db);
  return { ...sqlStore(sql), close: () => sql.close() };
}

/**
 * The database holds config var values: 0600, whatever the umask. SQLite gives the -wal and -shm
 * files the database file's mode, so the file is made 0600 before SQLite first opens it; files
 * left by an earlier version with 0644 are changed.
 */
function makePrivate(file: string): void {
  closeSync(openSync(file, "a", 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

function migrate(db: Database.Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
  const applied = new Set((db.prepare("SELECT version FROM schema_migrations").all() as Row[]).map((r) => Number(r.version)));
  MIGRATIONS.forEach((step, i) => {
    const version = i + 1;
    if (applied.has(version)) return;
    db.transaction(() => {
      db.exec(step.sqlite);
      db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)").run(version, new Date().toISOString());
    })();
  });
}
