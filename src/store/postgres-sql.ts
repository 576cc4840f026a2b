import type pg from "pg";
import { transactionEnded, type Row, type Sql } from "./sql.js";

/** `?` placeholders as PostgreSQL numbers them ($1, $2, ...); the store's SQL has no `?` in a literal. */
const numbered = new Map<string, string>();
function postgresText(text: string): string {
  let converted = numbered.get(text);
  if (converted === undefined) {
    let n = 0;
    converted = text.replace(/\?/g, () => `$${++n}`);
    numbered.set(text, converted);
  }
  return converted;
}

type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

/**
 * The metadata store's SQL on a pool of PostgreSQL connections: a statement outside a transaction
 * takes any free connection; a transaction takes one for itself, from BEGIN to COMMIT, and its work
 * runs on that one (several nodes, each with its own pool, share the database).
 */
export function postgresSql(pool: pg.Pool): Sql {
  const on = (db: Queryable): Pick<Sql, "all" | "get" | "run"> => ({
    all: async (text, params = []) => (await db.query(postgresText(text), params as unknown[])).rows as Row[],
    get: async (text, params = []) => (await db.query(postgresText(text), params as unknown[])).rows[0] as Row | undefined,
    run: async (text, params = []) => (await db.query(postgresText(text), params as unknown[])).rowCount ?? 0,
  });

  /**
   * `fn` in a transaction (depth 0) or a savepoint inside one, on the connection `client`. A
   * connection that could not undo a failed transaction is marked `broken`: the pool drops it
   * instead of handing it, in whatever state it is, to the next taker. (One that died is dropped anyway.)
   */
  const transact = async <T>(client: pg.PoolClient, fn: (sql: Sql) => Promise<T>, depth: number, state: { broken?: Error }): Promise<T> => {
    const savepoint = `sf_${depth}`;
    await client.query(depth === 0 ? "BEGIN" : `SAVEPOINT ${savepoint}`);
    let open = true;
    const live = <A extends unknown[], R>(step: (...args: A) => Promise<R>) => (...args: A): Promise<R> =>
      open ? step(...args) : transactionEnded();
    const direct = on(client);
    const tx: Sql = {
      dialect: "postgres",
      all: live(direct.all),
      get: live(direct.get),
      run: live(direct.run),
      transaction: live((inner) => transact(client, inner, depth + 1, state)),
      // The app's row, held until the transaction ends. NO KEY UPDATE: rows that refer to the app
      // (a build, a release) can still be written meanwhile; another taker of the app waits.
      lockApp: live(async (app: string) => void (await client.query("SELECT 1 FROM apps WHERE name = $1 FOR NO KEY UPDATE", [app]))),
    };
    try {
      const result = await fn(tx);
      await client.query(depth === 0 ? "COMMIT" : `RELEASE SAVEPOINT ${savepoint}`);
      return result;
    } catch (err) {
      await client.query(depth === 0 ? "ROLLBACK" : `ROLLBACK TO SAVEPOINT ${savepoint}`).catch((undoErr: Error) => void (state.broken ??= undoErr));
      throw err;
    } finally {
      open = false;
    }
  };

  return {
    dialect: "postgres",
    ...on(pool),
    async transaction(fn) {
      const client = await pool.connect();
      const state: { broken?: Error } = {};
      try {
        return await transact(client, fn, 0, state);
      } finally {
        client.release(state.broken);
      }
    },
    lockApp: () => Promise.reject(new Error("lockApp is for a transaction's Sql")),
  };
}
