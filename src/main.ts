import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { createApp } from "./app.js";
import { parseConfig, type Config } from "./config/parse-config.js";
import { SlugforgeError } from "./errors.js";
import { createLogger } from "./log.js";

/** The composition root: reads the environment, builds real adapters, listens, handles signals. */
export async function startServer(env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<{ close(): Promise<void>; port: number }> {
  const parsed = parseConfig(env);
  if (parsed.errors) {
    throw new SlugforgeError("CONFIG_INVALID", `the settings are not usable:\n  ${parsed.errors.join("\n  ")}`);
  }
  const config = parsed.config;
  const log = createLogger(config.logLevel);
  mkdirSync(config.dataDir, { recursive: true });
  const token = resolveToken(config, say);
  const app = createApp({ config: { ...config, token }, log });
  await new Promise<void>((resolve, reject) => {
    app.server.once("error", reject);
    app.server.listen(config.port, config.host, () => resolve());
  });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  log.info({ port, dataDir: config.dataDir }, "listening");
  say(`slugforge listening on http://${config.host}:${port} (data in ${config.dataDir})`);
  return { close: () => app.close(), port };
}

/** SLUGFORGE_TOKEN, or the one kept in the data folder, or a new one printed once. */
function resolveToken(config: Config, say: (line: string) => void): string {
  if (config.token) return config.token;
  const file = path.join(config.dataDir, "token");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const token = randomBytes(24).toString("base64url");
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  say(`generated an API token (kept in ${file}); it is shown only this once:\n\n    ${token}\n`);
  return token;
}
