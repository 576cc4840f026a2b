import { open, stat, type FileHandle } from "node:fs/promises";
import { Readable } from "node:stream";
import { once } from "node:events";
import { finished } from "node:stream/promises";
import { crcOf, PieceQueue, sha256Of, type KnownBlock, type LazySource, type Piece } from "./parallel-gzip.js";
import { slugCutter, type HeaderMark } from "./tar-cutter.js";
import { decodePax, decodeTarHeader, readPlainHeader, tarPadding } from "./tar-headers.js";

/*
 * A slug made from what the host laid in a build's /app before the build began (the app's last
 * built commit, unpacked into the container's layer ahead of time) and what changed since.
 *
 * While nothing runs in the container yet, the laid folder is read once, off the push's path, as
 * the slug's tar (normalised, mtimes not clamped) into a file beside the layer, with where each
 * entry lies in it (recordLaid). At the build's slug step GNU tar reads /app again but stores only
 * the folders and what changed since the laying ended (`--newer`: an mtime or a ctime after that
 * time). The kernel sets a file's ctime on every change of its content or metadata (a write through
 * mmap too), and no program can set it back, so a file whose ctime is older was not touched. A
 * folder whose ctime is older had no name added, removed or renamed in it; in a folder that did,
 * the names now there are read. mergeLaid then puts the laid entries that are still there between
 * the ones read again, in GNU tar's order, giving the same bytes a whole read would.
 */

/** One file, link or symbolic link of the laid tar (folders are always read again). */
export interface LaidEntry {
  /** Its name in the slug (`./app/...`). */
  readonly name: string;
  /** Where its headers start and its body (with padding) ends, in the laid tar. */
  readonly start: number;
  readonly end: number;
  /** A file's bytes (0 for the rest). */
  readonly size: number;
  /** A file (not a link). */
  readonly file: boolean;
  /** Its folder, by its place in LaidSlug's `dirs`. */
  readonly dir: number;
}

export interface LaidSlug {
  /** The laid tar (slugTar's output, mtimes not clamped). */
  readonly file: string;
  /** Its length: the file is checked against it before it is used. */
  readonly bytes: number;
  /** Entries in the tar's order. */
  readonly entries: readonly LaidEntry[];
  /** The folders the entries are in (`./app/.../`), each once. */
  readonly dirs: readonly string[];
  /** The latest mtime of an entry, in seconds: a slug clamped at or before it cannot use the laid tar. */
  readonly maxMtime: number;
  /** When the laying ended (ms since the epoch): nothing in the laid folder changed after it unless its ctime says so. */
  readonly since: number;
  /** Each laid folder, by its name in the slug (`./app/.../`): what the caller knows it by, taken before anything but the laying could move one. */
  readonly folders: ReadonlyMap<string, string>;
  /**
   * The laid tar cut as a slug's tar is (slugCutter), each block by where it starts, hashed as it
   * was written: a block of the slug that is these bytes (mergeLaid's `known`) is not hashed again.
   * The file is the server's own, beside the layer (not in it: no build can reach it), and is
   * checked against its length before it is read.
   */
  readonly blocks: ReadonlyMap<number, LaidBlock>;
  /** Every header of the laid tar as the slug's cutter met it, in order: the slug's blocks are cut over laid bytes not read (LazySource.headers). */
  readonly headers: readonly HeaderMark[];
  /** Each folder's headers in the laid tar (while they fit in FOLDER_HEADER_BYTES), by its name in the slug: one the slug has byte for byte continues a laid run. */
  readonly folderHeaders: ReadonlyMap<string, { readonly start: number; readonly bytes: Buffer }>;
  /** The end-of-archive blocks and what follows them, where they start (a slug that ends the same continues a laid run to its end). */
  readonly tail: { readonly start: number; readonly bytes: Buffer };
}

/** A block of the laid tar: where it ends, its sha256 and CRC-32. */
export interface LaidBlock {
  readonly end: number;
  readonly sha256: string;
  readonly crc: number;
}

/** At most this many bytes of laid folder headers are kept (a copy each). */
const FOLDER_HEADER_BYTES = 8 * 1024 * 1024;

/**
 * A change the laid tar cannot follow: a laid folder moved to another name takes its files with it,
 * unchanged, to names the laid tar does not have. The slug is then read whole.
 */
export class LaidSlugUnusable extends Error {}

/** Beyond this many entries the laid tar is not kept (its index would hold too much memory). */
const MAX_LAID_ENTRIES = 200_000;

/** No mtime is clamped in the laid tar (ustar's largest time). */
export const UNCLAMPED = new Date(0o77777777777 * 1000);

interface EntryStart {
  readonly name: string;
  readonly directory: boolean;
  readonly file: boolean;
  readonly size: number;
  readonly mtime: number;
}

/** A piece of a slug's tar; `start`: the first bytes of an entry, or of the end-of-archive blocks. */
interface Segment {
  readonly start?: EntryStart | "end";
  readonly bytes: Buffer;
}

/**
 * The slug tar `input` (slugTar's output: ustar headers, a pax header before one whose name needs
 * it) cut at its entries. An entry's pax header is held until its own header says the entry's name.
 */
export async function* splitSlugTar(input: AsyncIterable<Buffer>): AsyncGenerator<Segment> {
  let gathered: Buffer[] = [];
  let gatheredBytes = 0;
  let bodyLeft = 0;
  let ended = false;
  // An extended header and its records, held until the entry's own header.
  let held: Buffer[] | undefined;
  let paxBytes = 0;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let at = 0;
    while (at < chunk.length) {
      if (ended) {
        yield { bytes: chunk.subarray(at) };
        break;
      }
      if (bodyLeft > 0) {
        const piece = chunk.subarray(at, at + bodyLeft);
        at += piece.length;
        bodyLeft -= piece.length;
        if (held) held.push(piece);
        else yield { bytes: piece };
        continue;
      }
      const piece = chunk.subarray(at, at + 512 - gatheredBytes);
      at += piece.length;
      gathered.push(piece);
      gatheredBytes += piece.length;
      if (gatheredBytes < 512) continue;
      const block = gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered, 512);
      gathered = [];
      gatheredBytes = 0;
      // The usual entry (a file or folder, a short name) read quickly; the rest whole.
      const plain = held ? undefined : readPlainHeader(block);
      if (plain) {
        bodyLeft = plain.size + tarPadding(plain.size);
        yield { start: { name: plain.name, directory: plain.directory, file: !plain.directory, size: plain.size, mtime: plain.mtime }, bytes: block };
        continue;
      }
      const h = decodeTarHeader(block);
      if (!h) {
        if (held) throw new Error("a slug tar ends inside an entry's extended header");
        ended = true;
        yield { start: "end", bytes: block };
        continue;
      }
      if (h.type === "pax-header") {
        if (held) throw new Error("a slug tar has two extended headers for one entry");
        held = [block];
        paxBytes = h.size;
        bodyLeft = h.size + tarPadding(h.size);
        continue;
      }
      let name = h.name;
      let size = h.size;
      let bytes = block;
      if (held) {
        const records = decodePax(Buffer.concat(held.slice(1)).subarray(0, paxBytes));
        if (records.path) name = records.path;
        if (records.size) size = parseInt(records.size, 10);
        bytes = Buffer.concat([...held, block]);
        held = undefined;
      }
      bodyLeft = size + tarPadding(size);
      yield { start: { name, directory: h.type === "directory", file: h.type === "file", size: h.type === "file" ? size : 0, mtime: Math.floor(h.mtime.getTime() / 1000) }, bytes };
    }
  }
  if (held || bodyLeft > 0 || gatheredBytes > 0) throw new Error("a slug tar ended inside an entry");
}

/** How often recordLaid asks whether the disk has room for more. */
export const ROOM_CHECK_BYTES = 16 * 1024 * 1024;

/**
 * Writes the laid folder's slug tar to `file` (open as `handle`, which it closes) and returns where each of its entries lies. The
 * caller says when the laying ended (`since`); the tar may be read later, as long as nothing it
 * holds is taken for a file whose ctime is later (mergeLaid). `room` is asked every
 * ROOM_CHECK_BYTES, with how many were written: it throws to stop (a disk under its reserve).
 */
export async function recordLaid(
  tar: Readable,
  handle: FileHandle,
  file: string,
  since: number,
  folders: ReadonlyMap<string, string>,
  room: (written: number) => Promise<void> = async () => undefined,
): Promise<LaidSlug> {
  const out = handle.createWriteStream();
  // A write that fails while the loop waits for the tar (or one queued when the catch below destroys
  // the stream) is not left without a listener: it stops the tar, and the loop throws.
  out.on("error", (err) => tar.destroy(err));
  let roomAt = ROOM_CHECK_BYTES;
  const blocks = new BlockHasher();
  const folderHeaders = new Map<string, { start: number; bytes: Buffer }>();
  let folderHeaderBytes = 0;
  let tailAt: number | undefined;
  const tail: Buffer[] = [];
  const entries: LaidEntry[] = [];
  let offset = 0;
  let maxMtime = 0;
  let open_: { name: string; start: number; size: number; file: boolean } | undefined;
  const dirs: string[] = [];
  const dirIds = new Map<string, number>();
  const close = (): void => {
    if (open_) {
      const dirName = open_.name.slice(0, open_.name.lastIndexOf("/") + 1);
      let dir = dirIds.get(dirName);
      if (dir === undefined) {
        dir = dirs.push(dirName) - 1;
        dirIds.set(dirName, dir);
      }
      // A literal of its own (not a spread of open_): every entry has one shape, which the merge's loop over 20 000 of them needs (a spread's entries had several, and that loop took 12 ms instead of 1).
      entries.push({ name: open_.name, start: open_.start, end: offset, size: open_.size, file: open_.file, dir });
    }
    open_ = undefined;
  };
  try {
    for await (const seg of splitSlugTar(tar)) {
      if (seg.start) {
        close();
        if (entries.length >= MAX_LAID_ENTRIES) throw new Error(`the laid folder holds more than ${MAX_LAID_ENTRIES} entries: its slug tar is not kept`);
        if (seg.start !== "end" && !seg.start.directory) {
          open_ = { name: seg.start.name, start: offset, size: seg.start.size, file: seg.start.file };
          maxMtime = Math.max(maxMtime, seg.start.mtime);
        }
        if (seg.start !== "end" && seg.start.directory && folderHeaderBytes + seg.bytes.length <= FOLDER_HEADER_BYTES) {
          // A copy: the segment is a piece of a larger chunk of tar's output.
          folderHeaders.set(seg.start.name, { start: offset, bytes: Buffer.from(seg.bytes) });
          folderHeaderBytes += seg.bytes.length;
        }
      }
      if (offset >= roomAt) {
        // Every ROOM_CHECK_BYTES: whether the disk may take more.
        await room(offset);
        roomAt = offset + ROOM_CHECK_BYTES;
      }
      if (seg.start === "end") tailAt = offset;
      if (tailAt !== undefined) tail.push(seg.bytes);
      offset += seg.bytes.length;
      blocks.feed(seg.bytes);
      if (!out.write(seg.bytes)) await once(out, "drain");
    }
    close();
    blocks.end(offset);
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    tar.destroy();
    throw err;
  }
  return { file, bytes: offset, entries, dirs, maxMtime, since, folders, blocks: blocks.blocks, headers: blocks.headers, folderHeaders, tail: { start: tailAt ?? offset, bytes: tailBytes(tail) } };
}

/** The laid tar's end as it is kept: GNU tar's padding to its record size, not more than MAX_TAIL_BYTES (none then). */
function tailBytes(pieces: readonly Buffer[]): Buffer {
  const bytes = pieces.reduce((n, b) => n + b.length, 0);
  return bytes <= MAX_TAIL_BYTES ? Buffer.concat(pieces, bytes) : Buffer.alloc(0);
}

const MAX_TAIL_BYTES = 64 * 1024;

/** Cuts the bytes fed to it as a slug's tar is cut, and keeps each block's sha256 and CRC-32 by where it starts. */
class BlockHasher {
  readonly blocks = new Map<number, LaidBlock>();
  readonly headers: HeaderMark[] = [];
  private readonly cutter = slugCutter();

  constructor() {
    this.cutter.onHeader = (mark) => void this.headers.push(mark);
  }
  /** Bytes not in a block yet (a cut may fall in an earlier piece than the one that gave it). */
  private readonly pending = new PieceQueue();

  feed(bytes: Buffer): void {
    const cuts = this.cutter.feed(bytes);
    this.pending.push(bytes);
    for (const at of cuts) this.cut(at);
  }

  /** The last block, up to `total` bytes. */
  end(total: number): void {
    this.cut(total);
  }

  private cut(at: number): void {
    const start = this.pending.start;
    if (at <= start) return;
    const pieces = this.pending.take(at - start);
    this.blocks.set(start, { end: at, sha256: sha256Of(pieces), crc: crcOf(pieces) });
  }
}

/** What a folder holds now, as far as the laid entries in it go: gone, no name changed since the laying, or the names now in it. */
export type FolderNow = "gone" | "unchanged" | ReadonlySet<string>;

/**
 * The slug tar of the folder as it is now: `changed` (the slug tar of every folder and of what
 * changed since the laying, in GNU tar's order) with the laid entries that are still there put in
 * their places, read from the laid tar. `folder(name)` says what a folder (`./app/.../`) holds now;
 * it is asked only about folders `changed` has already given. `onFolder` hears every folder of
 * `changed` before its bytes go on (and may fail the stream). `onFile` hears each laid file taken.
 * `known` gives the recorded sha256 and CRC-32 of a block of the output (offsets in it, asked in
 * order) that is, byte for byte, a recorded block of the laid tar: within one run of bytes the
 * output took from the laid tar as they lie there (laid entries next to each other, and folder
 * headers equal to their laid ones).
 */
export function mergeLaid(
  changed: Readable,
  laid: LaidSlug,
  folder: (name: string) => Promise<FolderNow>,
  onFolder: (name: string) => Promise<void>,
  onFile: (name: string, bytes: number) => void,
): { tar: Readable; known: KnownBlock } {
  // Runs of the output that are bytes of the laid tar as they lie there, in the output's order; `out` bytes were given so far.
  const runs: { out: number; laid: number; length: number }[] = [];
  let out = 0;
  const taken = (laidAt: number, length: number): void => {
    const last = runs[runs.length - 1];
    if (last && last.out + last.length === out && last.laid + last.length === laidAt) last.length += length;
    else runs.push({ out, laid: laidAt, length });
  };
  let asked = 0; // the run the last question was in: questions come in order (one asked again from the start begins again)
  let lastStart = 0;
  const known: KnownBlock = (start, end) => {
    if (start < lastStart) asked = 0;
    lastStart = start;
    while (asked < runs.length && runs[asked]!.out + runs[asked]!.length <= start) asked++;
    const r = runs[asked];
    if (!r || r.out > start || end > r.out + r.length) return undefined;
    const from = start - r.out + r.laid;
    const block = laid.blocks.get(from);
    return block && block.end === from + (end - start) ? block : undefined;
  };
  // The laid bytes the slug takes are given to the gzip unread (LazyBytes): it reads only those of blocks it compresses.
  const source: LazySource = { read: (offset, length) => readLaid(laid, offset, length), headers: (offset, length) => headersIn(laid.headers, offset, offset + length) };
  const run = async function* (): AsyncGenerator<Piece> {
    await checkLaidFile(laid);
    const walk = new LaidWalk(laid, onFile);
    const flush = function* (): Generator<Piece> {
      const length = walk.runEnd - walk.runStart;
      if (length > 0) {
        taken(walk.runStart, length);
        out += length;
        yield { source, offset: walk.runStart, length };
      }
      walk.runStart = walk.runEnd = 0;
    };
    // The laid entries before `key` (all of them: undefined) that are still there.
    const before = async function* (key: string | undefined): AsyncGenerator<Piece> {
      const stop = walk.stopAt(key);
      for (let need = walk.scan(stop); need !== undefined; need = walk.scan(stop)) {
        if (need === NEW_RUN) yield* flush();
        else walk.dirsNow[need] = await folder(laid.dirs[need]!);
      }
      walk.skip(key);
      yield* flush();
    };
    // From the end-of-archive blocks on: how much of them is the laid tar's (undefined: before them, or they differ).
    let tailTaken: number | undefined;
    for await (const seg of splitSlugTar(changed)) {
      const dir = seg.start && seg.start !== "end" && seg.start.directory ? seg.start.name : undefined;
      if (dir !== undefined) await onFolder(dir);
      if (seg.start) yield* before(seg.start === "end" ? undefined : withoutSlash(seg.start.name));
      const header = dir === undefined ? undefined : laid.folderHeaders.get(dir);
      if (header?.bytes.equals(seg.bytes)) taken(header.start, seg.bytes.length);
      if (seg.start === "end") tailTaken = 0;
      if (tailTaken !== undefined) {
        const same = laid.tail.bytes.subarray(tailTaken, tailTaken + seg.bytes.length).equals(seg.bytes);
        if (same) taken(laid.tail.start + tailTaken, seg.bytes.length);
        tailTaken = same ? tailTaken + seg.bytes.length : undefined;
      }
      out += seg.bytes.length;
      yield seg.bytes;
    }
  };
  // Each piece as it is: Buffers and LazyBytes (createParallelGzip takes both).
  return { tar: Readable.from(run(), { highWaterMark: 16 }), known };
}

/** The laid tar is as long as when it was written (the server's own file, beside the layer), or it is not used. */
async function checkLaidFile(laid: LaidSlug): Promise<void> {
  checkLaidLength(laid, (await stat(laid.file)).size);
}

function checkLaidLength(laid: LaidSlug, size: number): void {
  if (size !== laid.bytes) throw new Error(`the laid slug tar ${laid.file} holds ${size} bytes, not the ${laid.bytes} written`);
}

/** `length` bytes of the laid tar from `offset`, its length checked again. */
async function readLaid(laid: LaidSlug, offset: number, length: number): Promise<Buffer> {
  const handle = await open(laid.file, "r");
  try {
    checkLaidLength(laid, (await handle.stat()).size);
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(buf, 0, length, offset);
    if (bytesRead !== length) throw new Error(`the laid slug tar ${laid.file} ended early`);
    return buf;
  } finally {
    await handle.close();
  }
}

/** The headers from `from` to `to` (those that start there), found by halves. */
function headersIn(headers: readonly HeaderMark[], from: number, to: number): readonly HeaderMark[] {
  const first = (at: number): number => firstNotBefore(0, headers.length, (i) => headers[i]!.at < at);
  return headers.slice(first(from), first(to));
}

/** The first index from `lo` to `hi` (`hi`: none) that is not `before`, where those that are come first: found by halves. */
function firstNotBefore(lo: number, hi: number, before: (i: number) => boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** LaidWalk.scan stopped at an entry that starts another run of the laid tar. */
const NEW_RUN = -1;

/**
 * mergeLaid's way through the laid entries, in order: which are still there, and the run of the
 * laid tar (entries next to each other there) they make. A class, so that its loop, run for every
 * entry of a large slug, is compiled once for all slugs (a closure made for each slug was run by
 * the interpreter, about a microsecond an entry).
 */
class LaidWalk {
  /** The next entry. */
  i = 0;
  /** The run so far, in the laid tar (empty: both 0). */
  runStart = 0;
  runEnd = 0;
  /** What each laid folder holds now, by its place in `dirs`: asked once, the first time an entry in it comes up. */
  readonly dirsNow: (FolderNow | undefined)[] = [];

  constructor(
    private readonly laid: LaidSlug,
    private readonly onFile: (name: string, bytes: number) => void,
  ) {}

  /** Where the entries before `key` end (all of them: undefined), found by halves. */
  stopAt(key: string | undefined): number {
    const entries = this.laid.entries;
    if (key === undefined) return entries.length;
    return firstNotBefore(this.i, entries.length, (i) => compareTarOrder(entries[i]!.name, key) < 0);
  }

  /**
   * Takes the entries up to `stop` that are still there into the run; stops early at an entry
   * whose folder is to be asked about (its place in `dirs`) or that starts another run (NEW_RUN).
   */
  scan(stop: number): number | undefined {
    const { entries, dirs } = this.laid;
    for (; this.i < stop; this.i++) {
      const e = entries[this.i]!;
      const now = this.dirsNow[e.dir];
      if (now === undefined) return e.dir;
      if (now !== "unchanged" && (now === "gone" || !now.has(e.name.slice(dirs[e.dir]!.length)))) continue;
      if (this.runEnd !== e.start) {
        if (this.runEnd !== this.runStart) return NEW_RUN;
        this.runStart = e.start;
      }
      if (e.file) this.onFile(e.name, e.size);
      this.runEnd = e.end;
    }
    return undefined;
  }

  /** Past the entry named `key`, if it is the next: read again (changed, or a folder now), that one is taken. */
  skip(key: string | undefined): void {
    const e = this.laid.entries[this.i];
    if (key !== undefined && e?.name === key) this.i++;
  }
}

function withoutSlash(name: string): string {
  return name.endsWith("/") ? name.slice(0, -1) : name;
}

/**
 * GNU tar's `--sort=name` order of two names (a folder's without its trailing slash): each folder's
 * names sorted bytewise, a folder before what it holds. That is the order of the names with `/`
 * taken as the smallest character.
 */
export function compareTarOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  const x = a.charCodeAt(i);
  const y = b.charCodeAt(i);
  if (x === 47) return -1;
  if (y === 47) return 1;
  // Beyond ASCII, UTF-8's byte order.
  if (x >= 0x80 || y >= 0x80) return Buffer.compare(Buffer.from(a.slice(i), "utf8"), Buffer.from(b.slice(i), "utf8"));
  return x - y;
}
