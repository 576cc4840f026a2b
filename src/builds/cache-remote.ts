import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ObjectBucket } from "../slug/s3-bucket.js";
import { runProcess } from "../util/run-process.js";
import { verifySha256 } from "../util/verify-sha256.js";

/**
 * Kept build caches in the object store, for a node (or an engine) that has not kept them itself:
 * each `<cacheDir>/<app>/<key>/` as one tar at `caches/<app>/<key>.tar`, its sha256 in the object's
 * metadata. The last build to keep a cache wins, as on one node; a download that does not hash to
 * what was written is refused (the build starts without it).
 */
export interface CacheRemote {
  /** `where` for messages: the bucket and its endpoint. */
  readonly where: string;
  /** Uploads the kept cache `<appDir>/<key>/` as the app's `key`. */
  upload(app: string, appDir: string, key: string, signal: AbortSignal): Promise<void>;
  /** The cache keys the store holds for the app. */
  keys(app: string): Promise<string[]>;
  /** The tar of the app's cache `key`, verified at its end; undefined when the store has none. */
  download(app: string, key: string): Promise<Readable | undefined>;
  /** Removes every cache of the app (the app was deleted). */
  remove(app: string): Promise<void>;
}

/** A cache key as a build service makes them (buildpack names and hashes): safe as a folder name. */
const CACHE_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function createBucketCacheRemote(bucket: ObjectBucket, spoolDir: string): CacheRemote {
  const keyOf = (app: string, key: string): string => `caches/${app}/${key}.tar`;
  return {
    where: bucket.where,
    async upload(app, appDir, key, signal) {
      if (!CACHE_KEY.test(key)) throw new Error(`not a cache key: ${key}`);
      await mkdir(spoolDir, { recursive: true, mode: 0o700 });
      const tmp = path.join(spoolDir, `.tmp-cache-${randomUUID()}.tar`);
      try {
        // GNU tar on the host; links kept as links (it never follows what a build left).
        const made = await runProcess("tar", ["-c", "-f", tmp, "--numeric-owner", "-C", appDir, "--", key], { signal });
        if (made.code !== 0) throw new Error(`tar of the kept cache ${key} failed (exit ${made.code}): ${made.stderr.trim().slice(0, 500)}`);
        const hash = createHash("sha256");
        for await (const chunk of createReadStream(tmp)) hash.update(chunk as Buffer);
        const { size } = await stat(tmp);
        await bucket.putFile(keyOf(app, key), tmp, size, { signal, metadata: { sha256: hash.digest("hex") }, contentType: "application/x-tar" });
      } finally {
        await rm(tmp, { force: true });
      }
    },
    async keys(app) {
      const prefix = `caches/${app}/`;
      return (await bucket.list(prefix))
        .map((o) => /^([^/]+)\.tar$/.exec(o.key.slice(prefix.length))?.[1])
        .filter((k): k is string => k !== undefined && CACHE_KEY.test(k));
    },
    async download(app, key) {
      if (!CACHE_KEY.test(key)) return undefined;
      const head = await bucket.head(keyOf(app, key));
      const expected = head?.metadata.sha256;
      const body = expected ? await bucket.get(keyOf(app, key)) : undefined;
      if (!body || !expected) return undefined;
      const verify = verifySha256(expected, (actual) => new Error(`the kept cache ${key} of ${app} in ${bucket.where} is corrupt or was replaced while read: it hashes to ${actual}, not ${expected}`));
      pipeline(body, verify).catch((err: unknown) => verify.destroy(err as Error));
      return verify;
    },
    async remove(app) {
      for (const { key } of await bucket.list(`caches/${app}/`)) await bucket.delete(key);
    },
  };
}
