import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { createReadStream } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { parseStorageSetting, type StorageSetting } from "../../src/config/storage-setting.js";
import { createFsSlugStore } from "../../src/slug/fs-slug-store.js";
import { createS3Bucket } from "../../src/slug/s3-bucket.js";
import { createS3SlugStore } from "../../src/slug/s3-slug-store.js";
import type { SlugStore } from "../../src/slug/slug-store.js";
import { storeSlug } from "../../src/slug/slug-writer.js";
import { startTestSwift } from "../../test/helpers/swift.js";
import { buildSampleApp } from "../lib/built-app.js";
import type { BenchContext } from "../lib/context.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";

const MB = 1024 * 1024;

/**
 * A slug written to the object store (OpenStack Swift from Debian with its S3 API, on 127.0.0.1,
 * started here) against the same slug written to the data folder, in the same run: the whole slug
 * step's write (re-root, parallel gzip, sha256, then the store's put) of a real built /app. Each
 * run writes into a new bucket and a new folder, so neither finds the slug there already.
 */
export async function storageScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const built = await buildSampleApp(ctx);
  if (built.fixture !== "python-django") rec.note(`measured on the ${built.fixture} sample: ${built.fallback ?? "Django did not build"}`);
  ctx.progress("storage: starting OpenStack Swift (s3api) on 127.0.0.1");
  const started = performance.now();
  const swift = await startTestSwift();
  rec.note(`Swift answered ${((performance.now() - started) / 1000).toFixed(1)} s after its start (proxy, account, container, object servers, memcached)`);
  try {
    const base = parseStorageSetting(swift.storageUrl("bench-slugs"), swift.env);
    if ("errors" in base) throw new Error(base.errors.join("; "));
    for (let i = 0; i < ctx.runs; i++) {
      ctx.progress(`storage: run ${i + 1}/${ctx.runs}`);
      const folder = await ctx.tmp.make(`storage-fs-${i}`);
      const spool = await ctx.tmp.make(`storage-spool-${i}`);
      const bucket = createS3Bucket({ ...base, bucket: `bench-slugs-${Date.now()}-${i}` } satisfies StorageSetting);
      await bucket.ensure();
      const stores: [string, SlugStore][] = [
        ["data folder", createFsSlugStore(folder)],
        ["object store (Swift)", createS3SlugStore(bucket, spool)],
      ];
      let slugId = "";
      // Alternate who goes first, so neither always meets a warm or a cold page cache.
      for (const [name, store] of i % 2 ? stores.reverse() : stores) {
        const t = performance.now();
        const stored = await storeSlug(tarOf(built.root), store, { maxBytes: Number.MAX_SAFE_INTEGER });
        rec.add(`slug write to the ${name}`, "ms", performance.now() - t);
        if (slugId && stored.id !== slugId) throw new Error(`the two stores got different slugs: ${slugId} and ${stored.id}`);
        slugId = stored.id;
        if (i === 0 && name.startsWith("data")) rec.add("slug size", "MB", stored.sizeBytes / MB);
      }
      rec.add("object store / data folder", "x", rec.last("slug write to the object store (Swift)") / rec.last("slug write to the data folder"));
      // Where the time goes: the stores' put alone, of the finished slug file.
      const hex = slugId.slice(7);
      const file = path.join(folder, "sha256", hex.slice(0, 2), `${hex}.tar.gz`);
      const again = createS3Bucket({ ...base, bucket: `bench-slugs-${Date.now()}-${i}-put` });
      await again.ensure();
      for (const [name, store] of [["data folder", createFsSlugStore(await ctx.tmp.make(`storage-fs2-${i}`))], ["object store", createS3SlugStore(again, spool)]] as const) {
        const t = performance.now();
        await store.put(createReadStream(file));
        rec.add(`  of which: put of the finished slug, ${name}`, "ms", performance.now() - t);
      }
      // And a read back, verified against its sha256.
      const t = performance.now();
      for await (const chunk of (await stores.find(([n]) => n.startsWith("object"))![1].get(slugId))!) void chunk;
      rec.add("read back from the object store, verified", "ms", performance.now() - t);
      if (i === 0) rec.note(`slug ${slugId.slice(0, 19)}…, ${((await stat(file)).size / MB).toFixed(1)} MB`);
    }
  } finally {
    await swift.stop();
  }
  return rec.result("storage", [{ metric: "object store / data folder", max: 1.3, text: "slug write to Swift <= 1.3 x to the data folder (median)" }]);
}

/** GNU tar of `root/app` as a stream (the shape the engine's archive gives: entries under app/). */
function tarOf(root: string): Readable {
  const child = spawn("tar", ["-cf", "-", "-C", root, "app"], { stdio: ["ignore", "pipe", "inherit"] });
  return child.stdout;
}
