import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./registry.js";
import { until } from "./until.js";

/**
 * OpenStack Swift from Debian (installed by .ci/run) with its s3api middleware, on 127.0.0.1 from a
 * temp folder: a real S3-compatible object store for the storage tests. One replica on one device
 * folder, tempauth (access key `test:tester`, secret `testing`), memcached beside it (without it
 * S3 calls are ~3x slower). `stop()` ends every process it started and removes the folder.
 */
export interface TestSwift {
  /** `http://127.0.0.1:<proxy port>` */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** `s3://BUCKET?endpoint=…&region=us-east-1`, for SLUGFORGE_STORAGE_URL. */
  storageUrl(bucket: string): string;
  /** AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for a server's environment. */
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

const SERVERS = ["account", "container", "object"] as const;

export async function startTestSwift(): Promise<TestSwift> {
  // /tmp is ext4 here (user xattrs, which Swift's object files need); ramfs would not do.
  const dir = await mkdtemp(path.join(os.tmpdir(), "sf-swift-"));
  const children: ChildProcess[] = [];
  let output = "";
  // A worker that exits without the test's teardown (a crash, a timeout) takes its servers along.
  const killAll = (): void => void children.forEach((c) => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL"));
  process.once("exit", killAll);
  const stop = async (): Promise<void> => {
    process.off("exit", killAll);
    await Promise.all(children.splice(0).map(endProcess));
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };
  const ports = { proxy: await freePort(), memcached: await freePort(), account: await freePort(), container: await freePort(), object: await freePort() };
  try {
    await mkdir(path.join(dir, "srv", "d1"), { recursive: true });
    await writeConfigs(dir, ports);
    await buildRings(dir, ports);
    const start = (command: string, args: string[]): void => {
      const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
      children.push(child);
      const keep = (b: Buffer): void => void (output = (output + b.toString()).slice(-20_000));
      child.stdout?.on("data", keep);
      child.stderr?.on("data", keep);
      child.once("error", (err: NodeJS.ErrnoException) => {
        output += `\n${command}: ${err.code === "ENOENT" ? "not installed: apt-get install --no-install-recommends swift swift-proxy swift-account swift-container swift-object memcached (as .ci/run does)" : err.message}`;
      });
    };
    start("memcached", ["-l", "127.0.0.1", "-p", String(ports.memcached), "-U", "0", "-m", "32", ...(process.getuid?.() === 0 ? ["-u", "nobody"] : [])]);
    for (const server of SERVERS) start(`swift-${server}-server`, [path.join(dir, `${server}-server.conf`), "-v"]);
    start("swift-proxy-server", [path.join(dir, "proxy-server.conf"), "-v"]);
    // The proxy's /healthcheck answers while the backends are still down: wait for all five ports.
    await until(async () => {
      const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null);
      if (dead || output.includes("not installed")) throw new Error(`Swift did not start:\n${output}`);
      const open = await Promise.all(Object.values(ports).map(portOpen));
      return open.every(Boolean);
    }, 60_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const endpoint = `http://127.0.0.1:${ports.proxy}`;
  return {
    endpoint,
    accessKeyId: "test:tester",
    secretAccessKey: "testing",
    storageUrl: (bucket) => `s3://${bucket}?endpoint=${encodeURIComponent(endpoint)}&region=us-east-1`,
    env: { AWS_ACCESS_KEY_ID: "test:tester", AWS_SECRET_ACCESS_KEY: "testing" },
    stop,
  };
}

type Ports = Record<"proxy" | "memcached" | (typeof SERVERS)[number], number>;

async function writeConfigs(dir: string, ports: Ports): Promise<void> {
  const common = (port: number): string[] =>
    ["[DEFAULT]", `devices = ${path.join(dir, "srv")}`, "mount_check = false", "bind_ip = 127.0.0.1", `bind_port = ${port}`, "workers = 0", `swift_dir = ${dir}`, "log_level = WARNING"];
  for (const server of SERVERS) {
    const lines = [...common(ports[server]), "", "[pipeline:main]", `pipeline = ${server}-server`, "", `[app:${server}-server]`, `use = egg:swift#${server}`, ""];
    await writeFile(path.join(dir, `${server}-server.conf`), lines.join("\n"));
  }
  // s3api before tempauth and slo after s3api, or multipart uploads are silently disabled.
  const pipeline = "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server";
  const filters = pipeline.split(" ").filter((f) => f !== "proxy-server");
  const proxy = [
    "[DEFAULT]", "bind_ip = 127.0.0.1", `bind_port = ${ports.proxy}`, "workers = 0", `swift_dir = ${dir}`, "log_level = WARNING", "",
    "[pipeline:main]", `pipeline = ${pipeline}`, "",
    "[app:proxy-server]", "use = egg:swift#proxy", "account_autocreate = true", "",
    ...[...new Set(filters)].flatMap((f) => [`[filter:${f}]`, `use = egg:swift#${EGG[f] ?? f}`, ...filterSettings(f, ports), ""]),
  ];
  await writeFile(path.join(dir, "proxy-server.conf"), proxy.join("\n"));
}

/** Filters whose egg entry point is not their pipeline name. */
const EGG: Record<string, string> = { cache: "memcache", "proxy-logging": "proxy_logging" };

function filterSettings(filter: string, ports: Ports): string[] {
  if (filter === "cache") return [`memcache_servers = 127.0.0.1:${ports.memcached}`];
  if (filter === "tempauth") return ["user_test_tester = testing .admin"];
  return [];
}

/** The three rings in one process of the python3 Swift runs on (Debian's, not one earlier on PATH) (~1 s; nine swift-ring-builder calls take ~12 s). */
async function buildRings(dir: string, ports: Ports): Promise<void> {
  const script = [
    "import sys",
    "from swift.common.ring import RingBuilder",
    "d = sys.argv[1]",
    "for name, port in zip(('account', 'container', 'object'), sys.argv[2:]):",
    "    b = RingBuilder(10, 1, 1)",
    "    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port), 'device': 'd1', 'weight': 1})",
    "    b.rebalance()",
    "    b.save(f'{d}/{name}.builder')",
    "    b.get_ring().save(f'{d}/{name}.ring.gz')",
  ].join("\n");
  await promisify(execFile)("/usr/bin/python3", ["-c", script, dir, ...SERVERS.map((s) => String(ports[s]))], { timeout: 30_000 });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function endProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
