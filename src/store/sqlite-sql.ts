import type Database from "better-sqlite3";
import { settle, transactionEnded, type Row, type Sql } from "./sql.js";

/**
 * The metadata store's SQL on one better-sqlite3 connection, shared by every async flow of the
 * process. better-sqlite3 runs each statement synchronously, so a statement never interleaves with
 * another; a transaction, though, spans awaits. While one is open it holds the connection: other
 * flows' statements and transactions wait their turn, in the order they came, so none lands inside
 * it (nor is undone by its rollback). Its own statements, through the Sql it is given, go straight
 * through. With no transaction open a statement runs at once, as it did before the store was async.
 */
export function sqliteSql(db: Database.Database): Sql & { close(): Promise<void> } {
  const statements = new Map<string, Database.Statement>();
  const prepare = (text: string): Database.Statement => {
    let statement = statements.get(text);
    if (!statement) {
      statement = db.prepare(text);
      statements.set(text, statement);
    }
    return statement;
  };
  const all = (text: string, params: readonly unknown[] = []): Row[] => prepare(text).all(...params) as Row[];
  const get = (text: string, params: readonly unknown[] = []): Row | undefined => prepare(text).get(...params) as Row | undefined;
  const run = (text: string, params: readonly unknown[] = []): number => prepare(text).run(...params).changes;

  const turns = new Turns();
  /** Outside a transaction: now when the connection is free, else after those waiting. */
  const inTurn = <T>(step: () => T): Promise<T> => {
    const waiting = turns.take();
    if (!waiting) return finishTurn(step);
    return waiting.then(() => finishTurn(step));
  };
  const finishTurn = <T>(step: () => T): Promise<T> => {
    try {
      return settle(step);
    } finally {
      turns.pass();
    }
  };

  /** `fn` in a transaction (depth 0) or a savepoint inside one, on the connection this flow holds. */
  const transact = async <T>(fn: (sql: Sql) => Promise<T>, depth: number): Promise<T> => {
    const savepoint = `sf_${depth}`;
    db.exec(depth === 0 ? "BEGIN" : `SAVEPOINT ${savepoint}`);
    const tx = boundSql(depth + 1);
    try {
      const result = await fn(tx.sql);
      db.exec(depth === 0 ? "COMMIT" : `RELEASE ${savepoint}`);
      return result;
    } catch (err) {
      // SQLite ends the whole transaction itself after some errors (a full disk): nothing to undo then.
      if (db.inTransaction) db.exec(depth === 0 ? "ROLLBACK" : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
      throw err;
    } finally {
      tx.end();
    }
  };
  /** The Sql a transaction's work is given: straight to the connection, and only while it is open. */
  const boundSql = (depth: number): { sql: Sql; end(): void } => {
    let open = true;
    const direct = <T>(step: () => T): Promise<T> => (open ? settle(step) : transactionEnded());
    return {
      sql: {
        dialect: "sqlite",
        all: (text, params) => direct(() => all(text, params)),
        get: (text, params) => direct(() => get(text, params)),
        run: (text, params) => direct(() => run(text, params)),
        transaction: (fn) => (open ? transact(fn, depth) : transactionEnded()),
        lockApp: () => direct(() => undefined),
      },
      end: () => void (open = false),
    };
  };

  return {
    dialect: "sqlite",
    all: (text, params) => inTurn(() => all(text, params)),
    get: (text, params) => inTurn(() => get(text, params)),
    run: (text, params) => inTurn(() => run(text, params)),
    async transaction(fn) {
      await turns.take();
      try {
        return await transact(fn, 0);
      } finally {
        turns.pass();
      }
    },
    lockApp: () => Promise.reject(new Error("lockApp is for a transaction's Sql")),
    /** Once the transaction holding the connection (if any) has ended; statements after it fail. */
    async close() {
      await turns.take();
      try {
        db.close();
      } finally {
        turns.pass();
      }
    },
  };
}

/** Who has the connection: one holder at a time, the others waiting in order. */
class Turns {
  private held = false;
  private readonly waiting: (() => void)[] = [];

  /** Takes the connection: undefined when it was free (taken now), else resolves when it is handed over. */
  take(): Promise<void> | undefined {
    if (!this.held) {
      this.held = true;
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the connection to the next in line, or frees it. */
  pass(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }
}
