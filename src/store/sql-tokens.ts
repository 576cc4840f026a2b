import type { Row, Sql } from "./sql.js";
import type { MetadataTx, StoredToken, TokenRecord, TokenScope } from "./types.js";

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

/** The scoped tokens part of the metadata store (sqlStore puts it together). */
export function sqlTokens(sql: Sql, now: () => string): Pick<MetadataTx, "createToken" | "findToken" | "listTokens" | "revokeToken" | "touchToken"> {
  const row = (id: string): Promise<Row | undefined> => sql.get("SELECT * FROM tokens WHERE id = ?", [id]);
  return {
    async createToken({ id, app, scope, secretSha256 }) {
      await sql.run("INSERT INTO tokens (id, app, scope, secret_sha256, created_at) VALUES (?, ?, ?, ?, ?)", [id, app, scope, secretSha256, now()]);
      return toRecord((await row(id))!);
    },
    async findToken(id) {
      const r = await row(id);
      return r ? toStored(r) : undefined;
    },
    async listTokens(app) {
      const rows = app === undefined
        ? await sql.all("SELECT * FROM tokens ORDER BY created_at, rowid")
        : await sql.all("SELECT * FROM tokens WHERE app = ? ORDER BY created_at, rowid", [app]);
      return rows.map(toRecord);
    },
    async revokeToken(id) {
      await sql.run("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [now(), id]);
      const r = await row(id);
      return r ? toRecord(r) : undefined;
    },
    async touchToken(id) {
      await sql.run("UPDATE tokens SET last_used_at = ? WHERE id = ?", [now(), id]);
    },
  };
}
