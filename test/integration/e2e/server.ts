import os from "node:os";
import { cp } from "node:fs/promises";
import path from "node:path";
import { parseConfig } from "../../../src/config/parse-config.js";
import { silentLogger } from "../../../src/log.js";
import { createServer, type Server, type ServerOptions } from "../../../src/main.js";
import { GitClient } from "../../helpers/git-client.js";

export const E2E_TOKEN = "e2e-token-0123456789";
export const FIXTURE_APPS = path.resolve(import.meta.dirname, "../../fixtures/apps");
export const FIXTURE_BUILDPACKS = path.resolve(import.meta.dirname, "../../fixtures/buildpacks");

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  readonly dataDir: string;
  readonly base: string;
  url(app: string): string;
  api<T>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** The whole server as `slugforge serve` assembles it, on loopback port 0, builds with network none, release images off unless `env` turns them on. */
export async function startServer(dataDir: string, env: Record<string, string> = {}, options: Pick<ServerOptions, "runtime" | "webhooks" | "log" | "builder"> = {}): Promise<RunningServer> {
  const parsed = parseConfig({
    PORT: "0",
    SLUGFORGE_HOST: "127.0.0.1",
    SLUGFORGE_DATA: dataDir,
    SLUGFORGE_TOKEN: E2E_TOKEN,
    SLUGFORGE_BUILD_NETWORK: "none",
    // Test buildpacks are git repos in temp folders.
    SLUGFORGE_BUILDPACK_ROOTS: os.tmpdir(),
    SLUGFORGE_BUILD_TIMEOUT: "5m",
    // Release images are the images tests' business (test/integration/images); others leave the engine alone.
    SLUGFORGE_IMAGES: "off",
    ...env,
  });
  if (parsed.errors) throw new Error(parsed.errors.join("; "));
  const server = await createServer(parsed.config, { log: silentLogger(), ...options });
  const port = await server.listen();
  const base = `http://127.0.0.1:${port}`;
  return {
    server,
    port,
    dataDir,
    base,
    url: (app) => `http://git:${E2E_TOKEN}@127.0.0.1:${port}/${app}.git`,
    async api<T>(method: string, p: string, body?: unknown) {
      const res = await fetch(`${base}${p}`, {
        method,
        headers: { Authorization: `Bearer ${E2E_TOKEN}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : text) as T };
    },
    close: () => server.close(),
  };
}

/** A git work tree holding a copy of a fixture app, committed on main. */
export async function appRepo(git: GitClient, fixture: string, dir: string): Promise<string> {
  await cp(path.join(FIXTURE_APPS, fixture), dir, { recursive: true });
  await git.ok(["init", "-q", "-b", "main"], dir);
  await git.ok(["add", "-A"], dir);
  await git.ok(["commit", "-q", "-m", `${fixture} sample`], dir);
  return git.ok(["rev-parse", "HEAD"], dir);
}

/** A fixture buildpack as its own git repo in `dir`, for a file:// BUILDPACK_URL; returns the URL. */
export async function buildpackRepo(git: GitClient, name: string, dir: string): Promise<string> {
  await cp(path.join(FIXTURE_BUILDPACKS, name), dir, { recursive: true });
  await git.ok(["init", "-q", "-b", "main"], dir);
  await git.ok(["add", "-A"], dir);
  await git.ok(["commit", "-q", "-m", name], dir);
  return `file://${dir}`;
}
