import path from "node:path";
import type { Config } from "../config/parse-config.js";
import { redactDatabaseUrl } from "../config/database-setting.js";
import type { Logger } from "../log.js";
import { openPostgresStore } from "./postgres-store.js";
import { openSqliteStore } from "./sqlite-store.js";
import type { MetadataStore } from "./types.js";

/** The store's front door: PostgreSQL at SLUGFORGE_DATABASE_URL when it is set, else SQLite in the data folder. */
export async function openMetadataStore(config: Pick<Config, "dataDir" | "databaseUrl">, log: Logger): Promise<MetadataStore> {
  if (config.databaseUrl === undefined) return openSqliteStore(path.join(config.dataDir, "metadata.db"));
  const store = await openPostgresStore(config.databaseUrl, log);
  log.info({ database: redactDatabaseUrl(config.databaseUrl) }, "metadata in PostgreSQL");
  return store;
}
