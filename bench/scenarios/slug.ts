import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rm, stat } from "node:fs/promises";
import path from "node:path";
import { Writable, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createParallelGzip } from "../../src/slug/parallel-gzip.js";
import { compressSlug } from "../../src/slug/slug-writer.js";
import { mapTar } from "../../src/slug/tar-transform.js";
import { setHeapGrowth } from "../../src/util/heap-growth.js";
import { buildSampleApp } from "../lib/built-app.js";
import type { BenchContext } from "../lib/context.js";
import { commandExists, ok, quote, sh } from "../lib/proc.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";

const MB = 1024 * 1024;

/**
 * The slug writer (re-root under ./app/, normalise, parallel gzip, sha256 in one pass: the
 * `compressSlug` core of writeSlug/storeSlug) packing a real built /app, against `tar -czf` of the
 * same folder (and `tar | pigz` when pigz is installed). GNU tar makes the input tar for the slug
 * writer too, so both sides read the same files the same way.
 */
export async function slugScenario(ctx: BenchContext): Promise<ScenarioResult> {
  // The writer runs here, in the bench's process: under the heap settings the server gives itself.
  setHeapGrowth();
  const rec = new Recorder();
  const built = await buildSampleApp(ctx);
  const appDir = path.join(built.root, "app");
  if (built.fixture !== "python-django") rec.note(`measured on the ${built.fixture} sample: ${built.fallback ?? "Django did not build"}`);
  const tarBytes = await countTarBytes(built.root);
  const files = Number((await sh(`find ${quote(appDir)} | wc -l`)).stdout.trim());
  rec.note(`input: the ${built.fixture} sample's built /app, ${files} entries, ${(tarBytes / MB).toFixed(1)} MB as tar`);
  const pigz = await commandExists("pigz");
  if (!pigz) rec.note("pigz is not installed: no tar | pigz baseline");

  const out = await ctx.tmp.make("slug-out");
  const slugFile = path.join(out, "slug.tar.gz");
  const tarFile = path.join(out, "tar.tar.gz");
  const pigzFile = path.join(out, "pigz.tar.gz");
  for (let i = 0; i < ctx.runs; i++) {
    ctx.progress(`slug: run ${i + 1}/${ctx.runs}`);
    // Alternate who goes first, so neither always meets a warm or a cold page cache.
    const steps: (() => Promise<void>)[] = [
      async () => {
        const t = performance.now();
        const sha = await slugWriter(built.root, slugFile);
        rec.add("slugforge slug writer", "ms", performance.now() - t);
        if (i === 0) await verify(slugFile, sha, out, rec);
      },
      async () => {
        const t = performance.now();
        await ok("tar", ["-czf", tarFile, "-C", built.root, "app"]);
        rec.add("tar -czf", "ms", performance.now() - t);
      },
    ];
    if (pigz) {
      steps.push(async () => {
        const t = performance.now();
        await sh(`tar -cf - -C ${quote(built.root)} app | pigz > ${quote(pigzFile)}`);
        rec.add("tar | pigz", "ms", performance.now() - t);
      });
    }
    for (const step of i % 2 ? steps.reverse() : steps) await step();
    rec.add("slug writer / tar -czf", "x", rec.last("slugforge slug writer") / rec.last("tar -czf"));
    if (pigz) rec.add("slug writer / tar | pigz", "x", rec.last("slugforge slug writer") / rec.last("tar | pigz"));
    // Where the time goes: the tar rewrite alone, and parallel gzip alone (no ratio targets).
    let t = performance.now();
    await pipeline(mapTar(tarOf(built.root), (h) => h), discard());
    rec.add("  of which: tar re-root pass alone", "ms", performance.now() - t);
    t = performance.now();
    await pipeline(tarOf(built.root), createParallelGzip(), createWriteStream(path.join(out, "pgz.gz")));
    rec.add("  of which: parallel gzip alone", "ms", performance.now() - t);
  }
  const slugSize = (await stat(slugFile)).size;
  const tarSize = (await stat(tarFile)).size;
  rec.add("slug size", "MB", slugSize / MB);
  rec.add("tar -czf size", "MB", tarSize / MB);
  rec.add("compression ratio, slug writer", "x", tarBytes / slugSize);
  rec.add("compression ratio, tar -czf", "x", tarBytes / tarSize);
  await rm(out, { recursive: true, force: true });
  return rec.result("slug", [{ metric: "slug writer / tar -czf", max: 0.55, every: true, text: "slug writer wall <= 0.55 x tar -czf on 2 cores, in every run" }]);
}

/** GNU tar of `root/app` as a stream (the shape `docker cp` / getArchive gives: entries under app/). */
function tarOf(root: string): Readable {
  const child = spawn("tar", ["-cf", "-", "-C", root, "app"], { stdio: ["ignore", "pipe", "inherit"] });
  return child.stdout;
}

async function slugWriter(root: string, file: string): Promise<string> {
  const slug = compressSlug(tarOf(root), Number.MAX_SAFE_INTEGER);
  await pipeline(slug.stream, createWriteStream(file));
  return slug.sha256();
}

async function countTarBytes(root: string): Promise<number> {
  let n = 0;
  await pipeline(
    tarOf(root),
    new Writable({
      write(chunk: Buffer, _e, done) {
        n += chunk.length;
        done();
      },
    }),
  );
  return n;
}

function discard(): Writable {
  return new Writable({ write: (_c, _e, done) => done() });
}

/** The slug must be one valid gzip stream that tar unpacks, and its sha256 the one the writer gave. */
async function verify(file: string, sha: string, out: string, rec: Recorder): Promise<void> {
  await ok("gzip", ["-t", file]);
  const dir = path.join(out, "unpacked");
  await sh(`mkdir -p ${quote(dir)} && tar -xzf ${quote(file)} -C ${quote(dir)}`);
  const entries = Number((await sh(`find ${quote(path.join(dir, "app"))} | wc -l`)).stdout.trim());
  const hash = createHash("sha256");
  await pipeline(createReadStream(file), hash);
  const actual = hash.digest("hex");
  if (actual !== sha) throw new Error(`the slug's sha256 ${actual} is not the one the writer reported (${sha})`);
  rec.note(`slug verified: gzip -t ok, tar -xzf unpacked ${entries} entries under ./app, sha256 matches the writer's`);
  await rm(dir, { recursive: true, force: true });
}
