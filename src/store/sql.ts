/** A row as a database driver gives it: column name to value. */
export type Row = Record<string, unknown>;

/**
 * The SQL the metadata store speaks, on either back-end: statements written once with `?`
 * placeholders, in the SQL both SQLite and PostgreSQL understand (the few places they differ ask
 * `dialect`). The store's code is the same on both; only these adapters know the drivers.
 */
export interface Sql {
  readonly dialect: "sqlite" | "postgres";
  all(text: string, params?: readonly unknown[]): Promise<Row[]>;
  get(text: string, params?: readonly unknown[]): Promise<Row | undefined>;
  /** Runs a change; resolves with how many rows it changed. */
  run(text: string, params?: readonly unknown[]): Promise<number>;
  /**
   * Runs `fn` in one transaction on one connection, given that connection's Sql: its changes are
   * all kept or none. Inside a transaction it is a savepoint (a failure undoes that part only).
   * The Sql given to `fn` refuses to be used once `fn`'s transaction has ended.
   */
  transaction<T>(fn: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * In a transaction: holds the app against every other transaction that takes it, until this one
   * ends (what makes release numbers unique without gaps across nodes). PostgreSQL locks the app's
   * row; SQLite has one connection whose transactions already run one at a time.
   */
  lockApp(app: string): Promise<void>;
}

/** What a transaction's Sql answers once its transaction has ended (work that outlived it, a bug). */
export function transactionEnded(): Promise<never> {
  return Promise.reject(new Error("a transaction's store was used after the transaction ended; use the store itself"));
}

/** A statement's outcome as a promise: a synchronous driver's throw becomes a rejection. */
export function settle<T>(step: () => T): Promise<T> {
  try {
    return Promise.resolve(step());
  } catch (err) {
    return Promise.reject(err as Error);
  }
}
