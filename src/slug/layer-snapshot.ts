import { open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { runCollected, spawnStreamed } from "../util/run-process.js";
import { decodeOctal, tarPadding, TarFormatError } from "./tar-headers.js";

/*
 * A snapshot of /app in a prepared container's layer, taken after its source was laid, so that the
 * slug step reads again only what changed since (steps/slug.ts).
 *
 * The snapshot is GNU tar's archive of /app (kept in the layer beside it, root's, mode 0600, gone
 * with the container) and where each entry's bytes are in it. `since` is a time before tar began:
 * an inode changed after it (its data, its mode, its links, a rename onto its name) has a later
 * ctime, which a build cannot set back. At slug time, GNU tar `-N since` walks /app as the whole
 * read does (no link followed) and writes every folder and every entry whose mtime or ctime is
 * later, each as the whole read would; `find` lists every name there is. Each entry of the
 * snapshot that is not a folder, still has its name, and was not written again is copied from the
 * snapshot into its place in the order GNU tar's `--sort=name` gives: the result is the whole
 * read's bytes without opening the files nobody touched.
 *
 * Something changing /app while it is read (a process the build left running) may leave a file as
 * it was when its folder was walked, as the whole read would.
 */

/** Beside /app in the layer (outside it: never in a slug). */
export const SNAPSHOT_FILE = ".slugforge-laid-app.tar";
/** Longer than the kernel's clock tick (ctime is stamped from a coarse clock). */
const SETTLE_MS = 30;
/** A source tree larger than this is not kept twice. */
const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;

export interface SnapshotEntry {
  /** As GNU tar names it (`app/...`, no trailing slash), its bytes read as latin1 so that none is lost. */
  readonly name: string;
  readonly folder: boolean;
  /** Where its bytes are in the snapshot's tar (a long name's entry before it included). */
  readonly start: number;
  readonly end: number;
}

export interface LayerSnapshot {
  readonly file: string;
  readonly entries: readonly SnapshotEntry[];
  /** Epoch milliseconds: what changed after this is read again. */
  readonly since: number;
  readonly bytes: number;
}

/** GNU tar's arguments for `base` under `upperDir`, sorted by name; with `newerThan`, only folders and what changed after it. */
export function layerTarArgs(upperDir: string, base: string, newerThan?: number): string[] {
  const newer = newerThan === undefined ? [] : ["-N", `@${(newerThan / 1000).toFixed(3)}`];
  return ["-c", "--sort=name", "--numeric-owner", "--format=gnu", ...newer, "-f", "-", "-C", upperDir, base];
}

/**
 * Takes the snapshot of `<upperDir>/<base>`, or resolves undefined when it cannot (tar failed, a
 * file changed as it was read, the tree is over the size kept); it then keeps nothing.
 */
export async function takeLayerSnapshot(upperDir: string, base: string, signal: AbortSignal): Promise<LayerSnapshot | undefined> {
  // What was laid just now is a tick behind `since`, and everything after it a tick ahead.
  await sleep(SETTLE_MS, undefined, { signal });
  const since = Date.now();
  await sleep(SETTLE_MS, undefined, { signal });
  const file = path.join(upperDir, SNAPSHOT_FILE);
  const entries: SnapshotEntry[] = [];
  let open_: { name: string; folder: boolean; start: number } | undefined;
  let ended = false;
  const follower = new TarFollower({
    entry(name, folder, start) {
      if (open_) entries.push({ ...open_, end: start });
      open_ = { name, folder, start };
    },
    bytes: () => undefined,
    end(at) {
      if (open_) entries.push({ ...open_, end: at });
      open_ = undefined;
      ended = true;
    },
  });
  const handle = await open(file, "w", 0o600);
  let bytes = 0;
  try {
    const child = spawnStreamed({ file: "tar", args: layerTarArgs(upperDir, base), env: process.env });
    const stop = (): boolean => child.kill("SIGKILL");
    signal.addEventListener("abort", stop, { once: true });
    try {
      child.stdin.end();
      child.stderr.resume();
      const exited = new Promise<number | null>((resolve, reject) => {
        child.on("error", reject);
        child.on("close", (code) => resolve(code));
      });
      exited.catch(() => undefined);
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > MAX_SNAPSHOT_BYTES) {
          stop();
          child.stdout.destroy();
          break;
        }
        follower.feed(chunk);
        await handle.write(chunk);
      }
      const code = await exited;
      if (code !== 0 || !ended || bytes > MAX_SNAPSHOT_BYTES) throw new Error(`no snapshot (tar ${code ?? "killed"}, ${bytes} bytes)`);
    } finally {
      signal.removeEventListener("abort", stop);
    }
    await handle.close();
    return { file, entries, since, bytes };
  } catch {
    await handle.close().catch(() => undefined);
    await rm(file, { force: true });
    return undefined;
  }
}

/** A listing of a large tree's names is this big: past it, the tree is read whole. */
const MAX_LISTING_BYTES = 64 * 1024 * 1024;

/**
 * `<upperDir>/<base>` as GNU tar's whole read (layerTarArgs) would give it, reading only what
 * changed since `snapshot`: `tar` runs GNU tar with the arguments given. Undefined when that cannot
 * be done (the clock went back, the listing failed or was too long, the snapshot is not whole):
 * read it whole then.
 */
export async function readChangedSince(
  upperDir: string,
  base: string,
  snapshot: LayerSnapshot,
  tar: (args: string[]) => Readable,
  signal?: AbortSignal,
): Promise<Readable | undefined> {
  // A clock set back since: the inodes' times say nothing.
  if (Date.now() <= snapshot.since) return undefined;
  const changed = tar(layerTarArgs(upperDir, base, snapshot.since));
  try {
    const [listing, bytes] = await Promise.all([
      runCollected("find", [base, "-printf", "%p\\0"], { cwd: upperDir, signal }, MAX_LISTING_BYTES),
      readFile(snapshot.file),
    ]);
    if (!listing || listing.code !== 0 || bytes.length !== snapshot.bytes) {
      changed.destroy();
      return undefined;
    }
    return mergeWithSnapshot(changed, snapshot.entries, bytes, new Set(listing.output.toString("latin1").split("\0")));
  } catch (err) {
    changed.destroy();
    throw err;
  }
}

/**
 * The whole read of /app from `changed` (GNU tar `-N since` of it, layerTarArgs), the snapshot's
 * entries and bytes, and `present` (every name there is now, as find printed it): see above.
 */
export function mergeWithSnapshot(changed: Readable, entries: readonly SnapshotEntry[], snapshot: Buffer, present: ReadonlySet<string>): Readable {
  let next = 0;
  let out!: Transform;
  // Runs of kept entries go out as one slice of the snapshot.
  const keepBefore = (name: string | undefined): void => {
    let runStart = -1;
    let runEnd = -1;
    const flush = (): void => {
      if (runStart >= 0) out.push(snapshot.subarray(runStart, runEnd));
      runStart = runEnd = -1;
    };
    while (next < entries.length && (name === undefined || tarOrder(entries[next]!.name, name) < 0)) {
      const e = entries[next++]!;
      if (e.folder || !present.has(e.name)) continue;
      if (e.start !== runEnd) flush();
      if (runStart < 0) runStart = e.start;
      runEnd = e.end;
    }
    flush();
    // The same name written again: this one goes.
    if (name !== undefined && next < entries.length && entries[next]!.name === name) next++;
  };
  let last: string | undefined;
  let done = false;
  const follower = new TarFollower({
    entry(name) {
      if (last !== undefined && tarOrder(last, name) >= 0) throw new TarFormatError(`tar's entries are out of order: ${name} after ${last}`);
      last = name;
      keepBefore(name);
    },
    bytes: (b) => void out.push(b),
    end() {
      keepBefore(undefined);
      out.push(Buffer.alloc(1024));
      done = true;
    },
  });
  out = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        follower.feed(chunk);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      cb(done ? null : new TarFormatError("Unexpected end of data"));
    },
  });
  changed.on("error", (err) => out.destroy(err));
  out.on("close", () => changed.destroy());
  changed.pipe(out);
  return out;
}

/** GNU tar's `--sort=name` order of two names: folder by folder, each name's bytes compared, a folder's own entries right after it. */
export function tarOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 47) return -1; // '/': a's name ended first
    if (y === 47) return 1;
    return x - y;
  }
  return a.length - b.length;
}

interface TarFollowerSink {
  /** An entry's header was read: `start` is where its bytes begin (a long name before it included). */
  entry(name: string, folder: boolean, start: number): void;
  /** The bytes of the entry last announced, in order. */
  bytes(chunk: Buffer): void;
  /** The end-of-archive block, at `at`: nothing after it is passed on. */
  end(at: number): void;
}

/**
 * Follows GNU tar's output entry by entry: an entry is announced once its header (and any long
 * name before it) is read, then its bytes are passed on. GNU format only: a pax header is refused.
 */
class TarFollower {
  private pos = 0;
  private start = 0;
  private state: "header" | "long" | "body" | "done" = "header";
  private left = 0;
  private held: Buffer[] = [];
  private block: Buffer[] = [];
  private blockBytes = 0;
  private longType = 0;
  private longSize = 0;
  private longData: Buffer[] = [];
  private longName: string | undefined;

  constructor(private readonly sink: TarFollowerSink) {}

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && this.state !== "done") {
      if (this.state === "body") {
        const n = Math.min(this.left, chunk.length - off);
        this.sink.bytes(chunk.subarray(off, off + n));
        off += n;
        this.pos += n;
        this.left -= n;
        if (this.left === 0) this.state = "header";
        continue;
      }
      if (this.state === "long") {
        const n = Math.min(this.left, chunk.length - off);
        const piece = Buffer.from(chunk.subarray(off, off + n));
        this.held.push(piece);
        this.longData.push(piece);
        off += n;
        this.pos += n;
        this.left -= n;
        if (this.left === 0) {
          const data = Buffer.concat(this.longData).subarray(0, this.longSize);
          if (this.longType === 76) this.longName = cString(data); // 'L'; a long link name ('K') is not needed
          this.longData = [];
          this.state = "header";
        }
        continue;
      }
      if (this.blockBytes === 0 && this.held.length === 0) this.start = this.pos;
      const n = Math.min(512 - this.blockBytes, chunk.length - off);
      this.block.push(Buffer.from(chunk.subarray(off, off + n)));
      this.blockBytes += n;
      off += n;
      this.pos += n;
      if (this.blockBytes < 512) continue;
      const header = Buffer.concat(this.block, 512);
      this.block = [];
      this.blockBytes = 0;
      this.header(header);
    }
  }

  private header(header: Buffer): void {
    if (header.every((b) => b === 0)) {
      if (this.held.length > 0) throw new TarFormatError("a long name with no entry after it");
      this.state = "done";
      this.sink.end(this.pos - 512);
      return;
    }
    let sum = 8 * 32;
    for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += header[i]!;
    if (sum !== decodeOctal(header, 148, 8)) throw new TarFormatError("Invalid tar header");
    const type = header[156]!;
    const size = decodeOctal(header, 124, 12);
    if (!(size >= 0)) throw new TarFormatError("Invalid tar header");
    if (type === 76 || type === 75) {
      // GNU's long name ('L') or long link name ('K'): held until the entry it names is read.
      this.held.push(header);
      this.longType = type;
      this.longSize = size;
      this.left = size + tarPadding(size);
      this.state = this.left > 0 ? "long" : "header";
      return;
    }
    if (type === 120 || type === 103) throw new TarFormatError("a pax header in GNU tar's output");
    const folder = type === 53; // '5'
    let name = this.longName ?? ustarName(header);
    this.longName = undefined;
    if (name.endsWith("/")) name = name.slice(0, -1);
    this.sink.entry(name, folder, this.start);
    for (const b of this.held) this.sink.bytes(b);
    this.held = [];
    this.sink.bytes(header);
    // As mapTar reads it: a folder's size is not a body.
    const body = folder ? 0 : size;
    this.left = body + tarPadding(body);
    this.state = this.left > 0 ? "body" : "header";
  }
}

function ustarName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  // ustar's prefix field (GNU format has none there)
  if (header.toString("latin1", 257, 263) === "ustar\0" && header[345]) return `${cString(header.subarray(345, 500))}/${name}`;
  return name;
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString("latin1", 0, end === -1 ? buf.length : end);
}
