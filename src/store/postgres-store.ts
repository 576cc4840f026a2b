import pg from "pg";
import { redactDatabaseUrl } from "../config/database-setting.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { MIGRATIONS } from "./migrations.js";
import { postgresPushLock } from "./postgres-push-lock.js";
import { postgresSql } from "./postgres-sql.js";
import { sqlStore } from "./sql-store.js";
import type { MetadataStore } from "./types.js";

/** Held while one node migrates: another starting at the same time waits, then finds the work done. */
const MIGRATION_LOCK = 0x736c7567; // "slug"

/**
 * The metadata store in PostgreSQL (SLUGFORGE_DATABASE_URL), which several nodes share: the same
 * store as SQLite's over a pool of connections. Connects and migrates before it resolves; a
 * database that cannot be used is DATABASE_UNAVAILABLE, saying why (the password hidden).
 */
export async function openPostgresStore(url: string, log: Logger): Promise<MetadataStore> {
  const pool = new pg.Pool({ connectionString: url, application_name: "slugforge", connectionTimeoutMillis: 10_000 });
  // An idle connection that breaks (the server restarted) is dropped; the next query opens another.
  pool.on("error", (err) => log.warn({ err }, "a PostgreSQL connection of the metadata store failed; it is replaced"));
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new SlugforgeError("DATABASE_UNAVAILABLE", `the metadata database ${redactDatabaseUrl(url)} cannot be used: ${describe(err)}`, { cause: err });
  }
  let closed: Promise<void> | undefined;
  return { ...sqlStore(postgresSql(pool)), lockPushes: postgresPushLock(url, log), close: () => (closed ??= pool.end()) };
}

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
    const applied = new Set((await client.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
    for (const [i, step] of MIGRATIONS.entries()) {
      const version = i + 1;
      if (applied.has(version)) continue;
      await client.query("BEGIN");
      try {
        await client.query(step.postgres);
        await client.query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [version, new Date().toISOString()]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK");
        throw err;
      }
    }
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
  } finally {
    // Closed, not reused: after a failure the advisory lock goes with it.
    client.release(true);
  }
}

/** node-postgres's reason in words: a refused connection to several addresses comes as an AggregateError without a message. */
function describe(err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: { message?: string }[] };
  const message = e.message || e.errors?.map((inner) => inner.message).filter(Boolean).join("; ") || e.code || String(err);
  return e.code && !message.includes(e.code) ? `${message} (${e.code})` : message;
}
