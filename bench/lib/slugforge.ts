import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { BENCH_DIST, REPO } from "./paths.js";

export const BENCH_TOKEN = "bench-token-0123456789";

export interface ServerSettings {
  readonly dataDir: string;
  /** Folder of shipped buildpacks; default the repository's buildpacks/. */
  readonly buildpacksDir?: string;
  /** Detect order; default ["python"]. */
  readonly shipped?: readonly string[];
  /** A builder that does nothing instead of the build service (bench/server.ts). */
  readonly noBuild?: boolean;
  /** Extra SLUGFORGE_* settings (concurrency, mounts). */
  readonly env?: Record<string, string>;
}

export interface BenchServer {
  readonly pid: number;
  readonly dataDir: string;
  readonly base: string;
  url(app: string): string;
  api<T>(method: string, p: string, body?: unknown): Promise<T>;
  /**
   * Waits until the server has no background work left after a build (spare cache copies, as
   * `slugforge_cache_copies_pending` in /metrics says); resolves with how long that took, in ms.
   */
  idle(timeoutMs?: number): Promise<number>;
  /** Peak resident memory of the server process since it started (VmHWM), in bytes. */
  peakRss(): number;
  /** Samples VmRSS every `everyMs` until the returned function is called; it returns the largest seen, in bytes. */
  sampleRss(everyMs?: number): () => number;
  stop(): Promise<void>;
}

/** Starts bench/server.ts (compiled) as a child process: loopback, port 0, build network none. */
export async function startSlugforge(settings: ServerSettings): Promise<BenchServer> {
  const child = spawn(process.execPath, [path.join(BENCH_DIST, "bench", "server.js")], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: "0",
      SLUGFORGE_HOST: "127.0.0.1",
      SLUGFORGE_DATA: settings.dataDir,
      SLUGFORGE_TOKEN: BENCH_TOKEN,
      SLUGFORGE_BUILD_NETWORK: "none",
      SLUGFORGE_BUILD_TIMEOUT: "10m",
      BENCH_BUILDPACKS_DIR: settings.buildpacksDir ?? path.join(REPO, "buildpacks"),
      BENCH_SHIPPED_BUILDPACKS: (settings.shipped ?? ["python"]).join(","),
      // Release images are measured by the image scenario alone; the others time what their baselines do.
      SLUGFORGE_IMAGES: "off",
      ...(settings.noBuild ? { BENCH_BUILDER: "none" } : {}),
      ...(process.env.BENCH_SERVER_LOG_LEVEL ? { BENCH_SERVER_LOG_LEVEL: process.env.BENCH_SERVER_LOG_LEVEL } : {}),
      // The slug from the laid tar, on by default: `SLUGFORGE_LAID_SLUG=off npm run bench` times the whole read instead.
      ...(process.env.SLUGFORGE_LAID_SLUG ? { SLUGFORGE_LAID_SLUG: process.env.SLUGFORGE_LAID_SLUG } : {}),
      ...settings.env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await readPort(child);
  const base = `http://127.0.0.1:${port}`;
  const pid = child.pid!;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    pid,
    dataDir: settings.dataDir,
    base,
    url: (app) => `http://git:${BENCH_TOKEN}@127.0.0.1:${port}/${app}.git`,
    async api<T>(method: string, p: string, body?: unknown): Promise<T> {
      const res = await fetch(`${base}${p}`, {
        method,
        headers: { Authorization: `Bearer ${BENCH_TOKEN}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async idle(timeoutMs = 60_000) {
      const started = performance.now();
      for (;;) {
        const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${BENCH_TOKEN}` } });
        const pending = Number(/^slugforge_cache_copies_pending (\d+)$/m.exec(await res.text())?.[1] ?? "0");
        if (pending === 0) return performance.now() - started;
        if (performance.now() - started > timeoutMs) throw new Error(`the server still had ${pending} cache copies pending after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    peakRss: () => statusKb(pid, "VmHWM") * 1024,
    sampleRss(everyMs = 20) {
      let max = 0;
      const tick = (): void => {
        max = Math.max(max, statusKb(pid, "VmRSS") * 1024);
      };
      tick();
      const timer = setInterval(tick, everyMs);
      return () => {
        clearInterval(timer);
        tick();
        return max;
      };
    },
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function readPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const onExit = (code: number | null): void => reject(new Error(`the bench server exited with ${code} before listening`));
    child.once("exit", onExit);
    lines.once("line", (line) => {
      child.off("exit", onExit);
      try {
        resolve((JSON.parse(line) as { port: number }).port);
      } catch {
        reject(new Error(`the bench server said: ${line}`));
      }
      // Keep draining stdout so the child never blocks on it.
      lines.on("line", () => undefined);
    });
  });
}

/** A `Vm*` field of /proc/<pid>/status in kB (0 once the process is gone). */
export function statusKb(pid: number, field: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** A release as the API lists it: the parts the benchmarks read. */
export interface BenchRelease {
  readonly version: number;
  readonly slugId: string | null;
  readonly image: { readonly name: string; readonly digest: string } | null;
  readonly imageError: string | null;
}

/**
 * Waits until release `version` of `app` has its image (a push waits for it only so long, then
 * finishes it in the background); fails on the image's error or after `timeoutMs`.
 */
export async function waitForImage(server: BenchServer, app: string, version: number, timeoutMs = 180_000): Promise<BenchRelease> {
  const started = performance.now();
  for (;;) {
    const release = (await server.api<BenchRelease[]>("GET", `/api/apps/${app}/releases`)).find((r) => r.version === version);
    if (release?.image) return release;
    if (release?.imageError) throw new Error(`${app} v${version}: its image failed: ${release.imageError}`);
    if (performance.now() - started > timeoutMs) throw new Error(`${app} v${version} had no image after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
