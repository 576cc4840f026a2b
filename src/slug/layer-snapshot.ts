import { constants } from "node:fs";
import { open, rm } from "node:fs/promises";
import path from "node:path";
import { pipeline as joined, Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { runCollected, spawnStreamed } from "../util/run-process.js";
import { slugEntry, type SlugSplice } from "./slug-writer.js";
import { decodeOctal, encodeTarEntry, tarPadding, TarFormatError } from "./tar-headers.js";
import { mapTar } from "./tar-transform.js";

/*
 * A snapshot of /app in a prepared container's layer, taken after its source was laid, so that the
 * slug step reads again only what changed since (steps/slug.ts), and rewrites only that.
 *
 * The snapshot is GNU tar's read of /app as the slug writer rewrites it (kept in the layer beside
 * /app, root's, mode 0600, gone with the container), and where each entry is in it. `since` is a
 * time before tar began: an inode changed after it (its data, its mode, its links, a rename onto
 * its name) has a later ctime, which a build cannot set back. At slug time, GNU tar `-N since`
 * walks /app as the whole read does (no link followed) and writes every folder and every entry
 * whose mtime or ctime is later, each as the whole read would; `find` lists every name there is.
 * Each entry of the snapshot that is not a folder, still has its name, and was not written again
 * goes into the slug writer's output as it is, at its place in GNU tar's `--sort=name` order: the
 * slug is the one the whole read gives, without opening or rewriting what nobody touched.
 *
 * Something changing /app while it is read (a process the build left running) may leave a file as
 * it was when its folder was walked, as the whole read would.
 */

/** Beside /app in the layer (outside it: never in a slug). */
export const SNAPSHOT_FILE = ".slugforge-laid-app.tar";
/** Longer than the kernel's clock tick (ctime is stamped from a coarse clock). */
const SETTLE_MS = 30;
/** A source tree larger than this is not kept twice (nor held in memory while a slug is written). */
const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

export interface SnapshotEntry {
  /** As GNU tar names it (`app/...`, no trailing slash), its bytes read as latin1 so that none is lost. */
  readonly name: string;
  readonly folder: boolean;
  /** Where it is in the snapshot, as a slug holds it (start = end: a slug leaves it out). */
  readonly start: number;
  readonly end: number;
  /** A file's name in the slug, where its size is counted, and its size. */
  readonly sizeName?: string;
  readonly size: number;
}

export interface LayerSnapshot {
  readonly file: string;
  readonly entries: readonly SnapshotEntry[];
  /** Epoch milliseconds: what changed after this is read again. */
  readonly since: number;
  readonly bytes: number;
  /** The latest mtime among its entries (ms): a slug whose clamp is not later rewrites them itself. */
  readonly maxMtime: number;
}

/** GNU tar's arguments for `base` under `upperDir`, sorted by name; with `newerThan`, only folders and what changed after it. */
export function layerTarArgs(upperDir: string, base: string, newerThan?: number): string[] {
  const newer = newerThan === undefined ? [] : ["-N", `@${(newerThan / 1000).toFixed(3)}`];
  return ["-c", "--sort=name", "--numeric-owner", "--format=gnu", ...newer, "-f", "-", "-C", upperDir, base];
}

/** No clamp: every mtime is kept (readChangedSince checks the slug's own clamp is later than all of them). */
const NO_CLAMP = new Date(8.64e15);

/**
 * Takes the snapshot of `<upperDir>/<base>`, or resolves undefined when it cannot (tar failed, the
 * tree is over the size kept); it then keeps nothing. The snapshot holds each entry as a slug
 * holds it (slug-writer's rewrite), so that the slug does not rewrite it again.
 */
export async function takeLayerSnapshot(upperDir: string, base: string, signal: AbortSignal): Promise<LayerSnapshot | undefined> {
  // What was laid just now is a tick behind `since`, and everything after it a tick ahead.
  await sleep(SETTLE_MS, undefined, { signal });
  const since = Date.now();
  await sleep(SETTLE_MS, undefined, { signal });
  const file = path.join(upperDir, SNAPSHOT_FILE);
  const named: { name: string; folder: boolean }[] = [];
  let ended = false;
  const follower = new TarFollower({
    entry: (name, folder) => void named.push({ name, folder }),
    bytes: () => undefined,
    end: () => void (ended = true),
  });
  const rewritten: { bytes: number; sizeName?: string; size: number; mtime: number }[] = [];
  const entry = slugEntry({ clampMtime: NO_CLAMP });
  // Made new, never through a name already there (a link would write elsewhere).
  const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600).catch(() => undefined);
  if (!handle) return undefined;
  let read = 0;
  try {
    const child = spawnStreamed({ file: "tar", args: layerTarArgs(upperDir, base), env: process.env });
    const stop = (): boolean => child.kill("SIGKILL");
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
    try {
      child.stdin.end();
      child.stderr.resume();
      const exited = new Promise<number | null>((resolve, reject) => {
        child.on("error", reject);
        child.on("close", (code) => resolve(code));
      });
      exited.catch(() => undefined);
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb: TransformCallback) {
          read += chunk.length;
          if (read > MAX_SNAPSHOT_BYTES) return cb(new Error("too large to keep"));
          try {
            follower.feed(chunk);
            cb(null, chunk);
          } catch (err) {
            cb(err as Error);
          }
        },
      });
      const slugBytes = mapTar(tap, (h) => {
        const mapped = entry(h);
        const encoded = mapped && encodeTarEntry({ ...mapped, pax: undefined });
        const bytes = encoded ? encoded.header.reduce((n, b) => n + b.length, 0) + encoded.bodyBytes + tarPadding(encoded.bodyBytes) : 0;
        rewritten.push({ bytes, sizeName: mapped?.type === "file" ? mapped.name : undefined, size: mapped?.size ?? 0, mtime: mapped ? (h.mtime?.getTime() ?? 0) : 0 });
        return mapped;
      });
      const writing = (async () => {
        for await (const chunk of slugBytes as AsyncIterable<Buffer>) await handle.write(chunk);
      })();
      await Promise.all([pipeline(child.stdout, tap), writing]);
      // 1: a file changed as it was read; it is read again at slug time (its ctime is later).
      const code = await exited;
      if ((code !== 0 && code !== 1) || !ended || named.length !== rewritten.length) throw new Error(`no snapshot (tar ${code ?? "killed"})`);
    } finally {
      signal.removeEventListener("abort", stop);
    }
    const entries: SnapshotEntry[] = [];
    let at = 0;
    let maxMtime = 0;
    named.forEach((n, i) => {
      const r = rewritten[i]!;
      entries.push({ ...n, start: at, end: at + r.bytes, ...(r.sizeName === undefined ? {} : { sizeName: r.sizeName }), size: r.size });
      at += r.bytes;
      maxMtime = Math.max(maxMtime, r.mtime);
    });
    const bytes = (await handle.stat()).size;
    await handle.close();
    if (bytes !== at + 1024) throw new Error("the snapshot's entries do not add up to its length");
    return { file, entries, since, bytes, maxMtime };
  } catch {
    await handle.close().catch(() => undefined);
    await rm(file, { force: true });
    return undefined;
  }
}

/** A listing of a large tree's names is this big: past it, the tree is read whole. */
const MAX_LISTING_BYTES = 64 * 1024 * 1024;

/** What changed, as GNU tar's output to give the slug writer, and the snapshot's entries to put among it. */
export interface ChangedRead {
  readonly tar: Readable;
  readonly splice: SlugSplice;
}

/**
 * `<upperDir>/<base>` as the slug writer would have it from GNU tar's whole read (layerTarArgs),
 * reading only what changed since `snapshot`: `tar` runs GNU tar with the arguments given; the
 * slug's mtimes are clamped to `clampMs`. Undefined when that cannot be done (the clock went back,
 * a snapshot entry is newer than the clamp, the listing failed or was too long, the snapshot is
 * not whole): read it whole then.
 */
export async function readChangedSince(
  upperDir: string,
  base: string,
  snapshot: LayerSnapshot,
  tar: (args: string[]) => Readable,
  clampMs: number,
  signal?: AbortSignal,
): Promise<ChangedRead | undefined> {
  // A clock set back since: the inodes' times say nothing.
  if (Date.now() <= snapshot.since || snapshot.maxMtime >= clampMs) return undefined;
  const changed = tar(layerTarArgs(upperDir, base, snapshot.since));
  // Failing before it is joined to the slug (the listing is read first): the join reports it.
  changed.on("error", () => undefined);
  try {
    const [listing, bytes] = await Promise.all([
      runCollected("find", [base, "-printf", "%p\\0"], { cwd: upperDir, signal }, MAX_LISTING_BYTES),
      readSnapshot(snapshot.file),
    ]);
    if (!listing || listing.code !== 0 || bytes.length !== snapshot.bytes) {
      changed.destroy();
      return undefined;
    }
    return spliceSnapshot(changed, snapshot.entries, bytes, new Set(listing.output.toString("latin1").split("\0")));
  } catch (err) {
    changed.destroy();
    throw err;
  }
}

/** The snapshot's bytes, never through a link. */
async function readSnapshot(file: string): Promise<Buffer> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * `changed` (GNU tar `-N since`, layerTarArgs) passed on as it is, and the splice that puts among
 * its entries, in `--sort=name` order, each entry of the snapshot that is not a folder, whose name
 * is `present`, and that was not written again: see above. The places are worked out as the tar
 * goes by, ahead of the slug writer; an entry asked for before it was seen fails the slug.
 */
export function spliceSnapshot(changed: Readable, entries: readonly SnapshotEntry[], snapshot: Buffer, present: ReadonlySet<string>): ChangedRead {
  let next = 0;
  const keptBefore = (name: string | undefined): SnapshotEntry[] => {
    let end = entries.length;
    if (name !== undefined) {
      let lo = next;
      while (lo < end) {
        const mid = (lo + end) >>> 1;
        if (tarOrder(entries[mid]!.name, name) < 0) lo = mid + 1;
        else end = mid;
      }
    }
    const kept: SnapshotEntry[] = [];
    for (let i = next; i < end; i++) {
      const e = entries[i]!;
      if (!e.folder && e.end > e.start && present.has(e.name)) kept.push(e);
    }
    next = end;
    // The same name written again: this one goes.
    if (name !== undefined && next < entries.length && entries[next]!.name === name) next++;
    return kept;
  };
  const planned = new Map<number, SnapshotEntry[]>();
  let atEnd: SnapshotEntry[] | undefined;
  let seen = 0;
  let last: string | undefined;
  const follower = new TarFollower({
    entry(name) {
      if (last !== undefined && tarOrder(last, name) >= 0) throw new TarFormatError(`tar's entries are out of order: ${name} after ${last}`);
      last = name;
      planned.set(seen++, keptBefore(name));
    },
    bytes: () => undefined,
    end: () => void (atEnd = keptBefore(undefined)),
  });
  const tapped = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        follower.feed(chunk);
        cb(null, chunk);
      } catch (err) {
        cb(err as Error);
      }
    },
  });
  // Either failing destroys the other (a killed tar, a slug that stopped reading).
  joined(changed, tapped, () => undefined);
  const splice: SlugSplice = (addSize) => {
    // Runs of kept entries go out as one slice of the snapshot.
    const slices = (kept: readonly SnapshotEntry[] | undefined, where: string): Buffer[] => {
      if (!kept) throw new TarFormatError(`the snapshot's entries ${where} were asked for before GNU tar's output said where they go`);
      const out: Buffer[] = [];
      let runStart = -1;
      let runEnd = -1;
      for (const e of kept) {
        if (e.sizeName !== undefined) addSize(e.sizeName, e.size);
        if (e.start !== runEnd) {
          if (runStart >= 0) out.push(snapshot.subarray(runStart, runEnd));
          runStart = e.start;
        }
        runEnd = e.end;
      }
      if (runStart >= 0) out.push(snapshot.subarray(runStart, runEnd));
      return out;
    };
    return {
      before(index) {
        const kept = planned.get(index);
        planned.delete(index);
        return slices(kept, `before entry ${index}`);
      },
      atEnd: () => slices(atEnd, "at the end"),
    };
  };
  return { tar: tapped, splice };
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
