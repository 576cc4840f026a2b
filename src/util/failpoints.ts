import { access, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline, Transform, type Readable, type TransformCallback } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Failpoints: named places in a push's life where a test can hold it and inject a fault (kill the
 * pusher, fill the disk, remove the container, kill the server) at exactly that point. Off unless
 * the server is started with SLUGFORGE_FAILPOINTS naming a folder (tests only); then each point
 * costs one file read.
 *
 * The protocol, per key (an app's name): the test writes `<dir>/<key>.arm` holding a point's name;
 * the first time that app's push reaches that point, the server removes the file, writes
 * `<dir>/<key>.reached` (holding the point's name) and waits until `<dir>/<key>.go` exists, or the
 * work's signal aborts (a cancelled or timed-out build stops waiting, as it would stop working).
 */
export const FAILPOINTS = [
  "receive",
  "source",
  "detect",
  "compile",
  "release",
  "slug-compress",
  "slug-store",
  "build-record",
  "cache-save",
  "cache-copy",
  "repo-gc",
] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

let folder: string | undefined;

/** Turns failpoints on (a folder) or off (undefined); the server does it once at start. */
export function configureFailpoints(dir: string | undefined): void {
  folder = dir;
}

/** Holds here while a test has armed `point` for `key`; see above. */
export async function failpoint(point: Failpoint, key: string, signal?: AbortSignal): Promise<void> {
  if (folder === undefined) return;
  const dir = folder;
  const armed = path.join(dir, `${key}.arm`);
  const wanted = await readFile(armed, "utf8").catch(() => undefined);
  if (wanted?.trim() !== point) return;
  await rm(armed, { force: true });
  await writeFile(path.join(dir, `${key}.reached`), point);
  const go = path.join(dir, `${key}.go`);
  for (;;) {
    signal?.throwIfAborted();
    if (await access(go).then(() => true, () => false)) break;
    await sleep(50, undefined, signal ? { signal } : undefined);
  }
  await rm(go, { force: true });
}

/**
 * Passes bytes through, holding the first chunk while the failpoint holds: the stream has begun
 * (the writer is mid-way) and the reader waits for its first bytes when the fault comes.
 */
export function failpointStream(point: Failpoint, key: string, signal?: AbortSignal): Transform {
  let first = true;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      if (!first || folder === undefined) return done(null, chunk);
      first = false;
      failpoint(point, key, signal).then(() => done(null, chunk), (err: Error) => done(err));
    },
  });
}

/** `stream` itself when failpoints are off; else `stream` through failpointStream (errors carried both ways). */
export function holdStream(stream: Readable, point: Failpoint, key: string, signal?: AbortSignal): Readable {
  if (folder === undefined) return stream;
  return pipeline(stream, failpointStream(point, key, signal), () => undefined);
}
