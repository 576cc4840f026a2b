import type Database from "better-sqlite3";
import type { MetadataStore, StoredToken, TokenRecord, TokenScope } from "./types.js";

type Row = Record<string, unknown>;

const toStored = (r: Row): StoredToken => ({
  id: String(r.id),
  app: String(r.app),
  scope: r.scope as TokenScope,
  createdAt: String(r.created_at),
  lastUsedAt: (r.last_used_at as string | null) ?? null,
  revokedAt: (r.revoked_at as string | null) ?? null,
  secretSha256: String(r.secret_sha256),
});

/** Never hand the hash to anyone but the authenticator. */
const toRecord = (r: Row): TokenRecord => {
  const { secretSha256: _hash, ...record } = toStored(r);
  return record;
};

/** The scoped tokens part of the SQLite store (openSqliteStore puts it together). */
export function sqliteTokens(
  db: Database.Database,
  now: () => string,
): Pick<MetadataStore, "createToken" | "findToken" | "listTokens" | "revokeToken" | "touchToken"> {
  const row = (id: string): Row | undefined => db.prepare("SELECT * FROM tokens WHERE id = ?").get(id) as Row | undefined;
  return {
    createToken({ id, app, scope, secretSha256 }) {
      db.prepare("INSERT INTO tokens (id, app, scope, secret_sha256, created_at) VALUES (?, ?, ?, ?, ?)").run(id, app, scope, secretSha256, now());
      return toRecord(row(id)!);
    },
    findToken(id) {
      const r = row(id);
      return r ? toStored(r) : undefined;
    },
    listTokens(app) {
      const rows = app === undefined
        ? db.prepare("SELECT * FROM tokens ORDER BY created_at, rowid").all()
        : db.prepare("SELECT * FROM tokens WHERE app = ? ORDER BY created_at, rowid").all(app);
      return (rows as Row[]).map(toRecord);
    },
    revokeToken(id) {
      db.prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").run(now(), id);
      const r = row(id);
      return r ? toRecord(r) : undefined;
    },
    touchToken(id) {
      db.prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?").run(now(), id);
    },
  };
}
