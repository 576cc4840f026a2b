import type { BlockCutter, HeaderMark } from "./parallel-gzip.js";

export type { HeaderMark };

export interface TarCutterOptions {
  /** No block is shorter than this (but the last). */
  readonly minBytes?: number;
  /** No block is longer than this: a long entry is cut inside its body. */
  readonly maxBytes?: number;
  /** A header whose name hashes to 0 modulo 2^bits ends a block (once it is at least minBytes). */
  readonly bits?: number;
}

/**
 * Cuts a tar stream into blocks at entry boundaries picked by content: before a header whose
 * entry name hashes to zero in its low bits, once the block holds `minBytes`, and around any
 * entry of `minBytes` or more. Boundaries depend on
 * the names around them, not on offsets, so a change to one file moves only the cuts next to it:
 * the blocks before and after are byte-for-byte what an earlier slug of the same tree had, and
 * their compressed members can be reused (parallel-gzip's `reuse`).
 *
 * The tar is followed, not parsed: each 512-byte header gives its body size (octal or base-256),
 * which says where the next header is. Whatever the bytes, the cuts are a pure function of them.
 */
export function createTarCutter(options: TarCutterOptions = {}): TarCutter {
  return new TarCutter(options);
}

/** createTarCutter's cutter: a class, so that its loop is compiled once for all slugs. */
export class TarCutter implements BlockCutter {
  private readonly minBytes: number;
  private readonly maxBytes: number;
  private readonly mask: number;
  private seen = 0; // bytes fed so far
  private nextHeader = 0; // absolute offset of the next header
  private lastCut = 0;
  private header: Buffer[] = []; // a header split across chunks
  private headerBytes = 0;
  private ended = false; // past the end-of-archive blocks: no more headers
  private afterLarge = false; // the entry before was a large one
  /** Told of each header met in the bytes fed (not in those skipped), end-of-archive blocks aside. */
  onHeader?: (mark: HeaderMark) => void;

  constructor(options: TarCutterOptions = {}) {
    // 512 KB. 128 KB made a changed small file's block cheaper to compress again (150 KB raw, not
    // 520 KB) but the slug writer's whole slug 1.4-1.7x slower (four times the blocks, each with
    // its own incompressibility sample and job).
    this.minBytes = options.minBytes ?? 512 * 1024;
    this.maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    this.mask = (1 << (options.bits ?? 4)) - 1;
  }

  feed(chunk: Buffer): number[] {
    const cuts: number[] = [];
    const start = this.seen;
    const end = this.seen + chunk.length;
    this.seen = end;
    while (!this.ended && this.nextHeader < end) {
      // The header starts inside this chunk (or an earlier one, when it was split).
      const from = Math.max(this.nextHeader + this.headerBytes - start, 0);
      const piece = chunk.subarray(from, from + 512 - this.headerBytes);
      this.header.push(piece);
      this.headerBytes += piece.length;
      if (this.headerBytes < 512) break;
      const block = this.header.length === 1 ? this.header[0]! : Buffer.concat(this.header, 512);
      const at = this.nextHeader;
      this.header = [];
      this.headerBytes = 0;
      if (isZero(block)) {
        this.maxCuts(at, cuts);
        this.ended = true;
        break;
      }
      const mark = { at, size: bodySize(block), ends: (nameHash(block) & this.mask) === 0 };
      this.onHeader?.(mark);
      this.met(mark, cuts);
    }
    this.maxCuts(this.ended ? end : Math.min(end, this.nextHeader), cuts);
    return cuts;
  }

  /**
   * Cuts `length` bytes not given, from the headers in them (`marks`, offsets counted from `base`,
   * which stands for where the cutter is): the cuts feeding those bytes would give. Undefined, and
   * nothing changed, where the bytes do not start at a header and end after a whole entry as the
   * marks say (the caller then feeds the bytes).
   */
  skip(length: number, marks: readonly HeaderMark[], base: number): number[] | undefined {
    if (this.ended || this.headerBytes > 0 || this.nextHeader !== this.seen || marks.length === 0 || marks[0]!.at !== base) return undefined;
    let next = base;
    for (const m of marks) {
      if (m.at !== next) return undefined;
      next = entryEnd(m);
    }
    if (next !== base + length) return undefined;
    const cuts: number[] = [];
    const shift = this.seen - base;
    for (const m of marks) this.met({ at: m.at + shift, size: m.size, ends: m.ends }, cuts);
    this.seen += length;
    this.maxCuts(this.nextHeader, cuts);
    return cuts;
  }

  /** A header at `mark.at`: a cut before it where it ends a block. */
  private met(mark: HeaderMark, cuts: number[]): void {
    const { at, size } = mark;
    this.maxCuts(at, cuts);
    // A large entry gets blocks of its own (cut before it and after it), so the small
    // entries next to it (folders stamped with the build's time) do not spoil its blocks.
    const large = size >= this.minBytes;
    if (at > this.lastCut && (this.afterLarge || large || (at - this.lastCut >= this.minBytes && mark.ends))) {
      this.lastCut = at;
      cuts.push(at);
    }
    this.afterLarge = large;
    this.nextHeader = entryEnd(mark);
  }

  private maxCuts(upTo: number, cuts: number[]): void {
    while (upTo - this.lastCut >= this.maxBytes) {
      this.lastCut += this.maxBytes;
      cuts.push(this.lastCut);
    }
  }
}

/**
 * The cutter of every slug (slug-writer.ts) and of the blocks recorded for a laid slug tar
 * (laid-slug.ts): the same cuts over the same bytes give the same blocks, so a block recorded
 * there can stand for one of the slug.
 */
export function slugCutter(): TarCutter {
  return new TarCutter();
}

/** Where the entry whose header is `mark` ends: its header, then its body padded to whole blocks. */
function entryEnd(mark: HeaderMark): number {
  return mark.at + 512 + Math.ceil(mark.size / 512) * 512;
}

/** FNV-1a of the name and prefix fields (where ustar keeps the entry's path). */
function nameHash(header: Buffer): number {
  let h = 0x811c9dc5;
  for (const [from, to] of [[0, 100], [345, 500]] as const) {
    for (let i = from; i < to; i++) {
      const b = header[i]!;
      if (b === 0) break;
      h = Math.imul(h ^ b, 0x01000193) >>> 0;
    }
  }
  return h;
}

/** The size field: octal text, or big-endian base-256 when its top bit is set. */
function bodySize(header: Buffer): number {
  const field = header.subarray(124, 136);
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  // Octal digits, after any leading spaces, up to the first other byte (a NUL or space ends the field).
  let n = 0;
  let i = 0;
  while (i < field.length && field[i] === 0x20) i++;
  for (; i < field.length; i++) {
    const d = field[i]! - 0x30;
    if (d < 0 || d > 7) break;
    n = n * 8 + d;
  }
  return n;
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}
