import { spawn, type ChildProcess } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { until } from "./until.js";

/**
 * Debian's `docker-registry` (Docker Distribution 2.8, installed by .ci/run) serving the registry
 * HTTP API v2 on 127.0.0.1 from a temp folder: a real registry for the image tests. It can be
 * stopped and started again on the same port and storage (a registry that goes down and comes back).
 */
export interface TestRegistry {
  readonly port: number;
  /** `127.0.0.1:<port>` */
  readonly host: string;
  /** Digests (`sha256:<hex>`) of every blob in its storage: layers, configs and manifests. */
  blobs(): Promise<Set<string>>;
  /** Its access log so far (one line per request). */
  log(): string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export async function createTestRegistry(dir: string, port?: number): Promise<TestRegistry> {
  const chosen = port ?? (await freePort());
  const storage = path.join(dir, "storage");
  const config = path.join(dir, "config.yml");
  await writeFile(
    config,
    ["version: 0.1", "log:", "  level: info", "  accesslog:", "    disabled: false", "storage:", "  filesystem:", `    rootdirectory: ${storage}`, "http:", `  addr: 127.0.0.1:${chosen}`, ""].join("\n"),
  );
  let child: ChildProcess | undefined;
  let output = "";
  const registry: TestRegistry = {
    port: chosen,
    host: `127.0.0.1:${chosen}`,
    async blobs() {
      const root = path.join(storage, "docker/registry/v2/blobs/sha256");
      const found = new Set<string>();
      for (const prefix of await readdir(root).catch(() => [] as string[])) {
        for (const hex of await readdir(path.join(root, prefix)).catch(() => [] as string[])) found.add(`sha256:${hex}`);
      }
      return found;
    },
    log: () => output,
    async start() {
      const started = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "pipe", "pipe"] });
      child = started;
      started.stdout?.on("data", (b: Buffer) => (output += b.toString()));
      started.stderr?.on("data", (b: Buffer) => (output += b.toString()));
      let exited = false;
      let missing = false;
      started.once("exit", () => (exited = true));
      started.once("error", (err: NodeJS.ErrnoException) => {
        exited = true;
        missing = err.code === "ENOENT";
      });
      await until(async () => {
        if (missing) throw new Error("docker-registry is not installed: apt-get install docker-registry (as .ci/run does)");
        if (exited) throw new Error(`docker-registry exited:\n${output}`);
        return fetch(`http://${registry.host}/v2/`).then((r) => r.ok, () => false);
      }, 15_000);
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        running.once("exit", () => resolve());
        running.kill("SIGTERM");
      });
    },
  };
  return registry;
}
