import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Where this file runs from: <repo>/dist/bench/bench/lib (compiled by tsconfig.bench.json). */
const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The compiled benchmark tree (dist/bench), whose bench/server.js the benchmarks start. */
export const BENCH_DIST = path.resolve(HERE, "..", "..");
export const REPO = path.resolve(BENCH_DIST, "..", "..");
export const FIXTURE_APPS = path.join(REPO, "test", "fixtures", "apps");
export const BENCH_BUILDPACKS = path.join(REPO, "bench", "fixtures", "buildpacks");
export const RESULTS_DIR = path.join(REPO, "bench", "results");

/** Temp folders of this run; all removed by cleanup() (also on failure and Ctrl-C). */
export class TempDirs {
  private readonly dirs: string[] = [];
  async make(prefix: string): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), `sf-bench-${prefix}-`));
    this.dirs.push(dir);
    return dir;
  }
  async cleanup(): Promise<void> {
    await Promise.all(this.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  }
}
