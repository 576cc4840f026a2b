import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Config } from "./parse-config.js";

/** Where the server keeps the admin token it generated on its first start (mode 0600). */
export function adminTokenFile(dataDir: string): string {
  return path.join(dataDir, "token");
}

/**
 * The admin token, for the server and the CLI alike: SLUGFORGE_TOKEN, else the one kept in the
 * data folder, else undefined (the server then makes one; the CLI has none).
 */
export function readAdminToken(config: Pick<Config, "token" | "dataDir">): string | undefined {
  if (config.token) return config.token;
  const file = adminTokenFile(config.dataDir);
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}

/** Makes a new admin token and keeps it in the data folder, readable by the server's user only. */
export function createAdminToken(dataDir: string): { token: string; file: string } {
  const token = randomBytes(24).toString("base64url");
  const file = adminTokenFile(dataDir);
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, file };
}
