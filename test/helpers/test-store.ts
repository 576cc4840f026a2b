import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, beforeEach } from "vitest";
import { silentLogger } from "../../src/log.js";
import { openPostgresStore } from "../../src/store/postgres-store.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import type { MetadataStore } from "../../src/store/types.js";
import { testPostgres } from "./postgres.js";

/** The metadata store's back-ends: every store test runs on each (describe.each(BACKENDS)). */
export const BACKENDS = ["sqlite", "postgres"] as const;
export type Backend = (typeof BACKENDS)[number];

export interface TestStore {
  readonly backend: Backend;
  readonly store: MetadataStore;
  /** Where the store is: the SQLite file, or the PostgreSQL database's URL. */
  readonly location: string;
  /** Closes the store and opens the same database again (a restart). */
  reopen(): Promise<MetadataStore>;
  /** Another store on the same database, as a second node has (closed after the test). */
  another(): Promise<MetadataStore>;
  /** Runs SQL on the database directly, beside the store (an operator's shell; an older version's schema). */
  exec(sql: string): Promise<void>;
}

/**
 * A fresh metadata store for each test of the describe block it is called in: SQLite in a temp
 * folder, or a new database of the run's PostgreSQL cluster; removed after the test.
 */
export function testStore(backend: Backend = "sqlite"): TestStore {
  let location: string | undefined;
  let store: MetadataStore | undefined;
  const others: MetadataStore[] = [];
  const open = (): Promise<MetadataStore> | MetadataStore =>
    backend === "sqlite" ? openSqliteStore(location!) : openPostgresStore(location!, silentLogger());
  beforeEach(async () => {
    location = backend === "sqlite" ? path.join(mkdtempSync(path.join(tmpdir(), "sf-store-")), "meta.db") : await (await testPostgres()).createDatabase();
    store = await open();
  });
  afterEach(async () => {
    await Promise.all([store, ...others.splice(0)].map((s) => s?.close()));
    if (backend === "sqlite") rmSync(path.dirname(location!), { recursive: true, force: true });
    else await (await testPostgres()).dropDatabase(location!);
  });
  const current = () => {
    if (!store) throw new Error("testStore: used outside a test");
    return store;
  };
  return {
    backend,
    get store() {
      return current();
    },
    get location() {
      return location!;
    },
    async reopen() {
      await current().close();
      store = await open();
      return store;
    },
    async another() {
      const other = await open();
      others.push(other);
      return other;
    },
    async exec(sql) {
      if (backend === "sqlite") {
        const db = new Database(location!);
        try {
          db.exec(sql);
        } finally {
          db.close();
        }
        return;
      }
      const client = new pg.Client({ connectionString: location });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    },
  };
}
