import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach } from "vitest";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import type { MetadataStore } from "../../src/store/types.js";

/**
 * A fresh SQLite metadata store for each test of the describe block it is called in, in a temp
 * folder removed after the test. `reopen` closes it and opens the same file again (a restart).
 */
export function testStore(): { readonly store: MetadataStore; readonly file: string; reopen(): Promise<MetadataStore> } {
  let dir: string | undefined;
  let store: MetadataStore | undefined;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sf-store-"));
    store = openSqliteStore(path.join(dir, "meta.db"));
  });
  afterEach(async () => {
    await store?.close();
    rmSync(dir!, { recursive: true, force: true });
  });
  const current = () => {
    if (!store) throw new Error("testStore: used outside a test");
    return store;
  };
  return {
    get store() {
      return current();
    },
    get file() {
      return path.join(dir!, "meta.db");
    },
    async reopen() {
      await current().close();
      store = openSqliteStore(path.join(dir!, "meta.db"));
      return store;
    },
  };
}
