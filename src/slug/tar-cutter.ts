import type { BlockCutter } from "./parallel-gzip.js";

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
export function createTarCutter(options: TarCutterOptions = {}): BlockCutter {
  const minBytes = options.minBytes ?? 512 * 1024;
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  const mask = (1 << (options.bits ?? 4)) - 1;
  let seen = 0; // bytes fed so far
  let nextHeader = 0; // absolute offset of the next header
  let lastCut = 0;
  let header: Buffer[] = []; // a header split across chunks
  let headerBytes = 0;
  let ended = false; // past the end-of-archive blocks: no more headers
  let afterLarge = false; // the entry before was a large one

  const maxCuts = (upTo: number, cuts: number[]): void => {
    while (upTo - lastCut >= maxBytes) {
      lastCut += maxBytes;
      cuts.push(lastCut);
    }
  };

  return {
    feed(chunk) {
      const cuts: number[] = [];
      const start = seen;
      const end = seen + chunk.length;
      seen = end;
      while (!ended && nextHeader < end) {
        // The header starts inside this chunk (or an earlier one, when it was split).
        const from = Math.max(nextHeader + headerBytes - start, 0);
        const piece = chunk.subarray(from, from + 512 - headerBytes);
        header.push(piece);
        headerBytes += piece.length;
        if (headerBytes < 512) break;
        const block = header.length === 1 ? header[0]! : Buffer.concat(header, 512);
        const at = nextHeader;
        header = [];
        headerBytes = 0;
        maxCuts(at, cuts);
        if (isZero(block)) {
          ended = true;
          break;
        }
        const size = bodySize(block);
        // A large entry gets blocks of its own (cut before it and after it), so the small
        // entries next to it (folders stamped with the build's time) do not spoil its blocks.
        const large = size >= minBytes;
        if (at > lastCut && (afterLarge || large || (at - lastCut >= minBytes && (nameHash(block) & mask) === 0))) {
          lastCut = at;
          cuts.push(at);
        }
        afterLarge = large;
        nextHeader = at + 512 + Math.ceil(size / 512) * 512;
      }
      maxCuts(ended ? end : Math.min(end, nextHeader), cuts);
      return cuts;
    },
  };
}

/**
 * The cutter of every slug (slug-writer.ts) and of the blocks recorded for a laid slug tar
 * (laid-slug.ts): the same cuts over the same bytes give the same blocks, so a block recorded
 * there can stand for one of the slug.
 */
export function slugCutter(): BlockCutter {
  return createTarCutter();
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
