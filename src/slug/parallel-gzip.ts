import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { promisify } from "node:util";
import { crc32, deflateRaw, gzip, type ZlibOptions } from "node:zlib";

const gzipAsync = promisify<Buffer, ZlibOptions, Buffer>(gzip);
const deflateRawAsync = promisify<Buffer, ZlibOptions, Buffer>(deflateRaw);

/** One gzip member of the output: the sha256 of the bytes it holds, and where it sits. */
export interface GzipMember {
  readonly sha256: string;
  readonly rawBytes: number;
  /** Offset of the member in the compressed output. */
  readonly offset: number;
  readonly bytes: number;
}

/**
 * A header the cutter met in a tar: where it starts, its body's size, and whether its name may end
 * a block (its hash is zero in the cutter's bits). What the cutter needs of a header to cut as it
 * would with the bytes (TarCutter.skip).
 */
export interface HeaderMark {
  readonly at: number;
  readonly size: number;
  readonly ends: boolean;
}

/** Decides where blocks end: given the next input bytes, the absolute offsets to cut at (ascending). */
export interface BlockCutter {
  feed(chunk: Buffer): number[];
  /**
   * The cuts for input not given as bytes (LazyBytes) from what is known of it, as feeding its bytes
   * would give; undefined (nothing changed) where the cutter cannot tell without the bytes.
   */
  skip?(length: number, marks: readonly HeaderMark[], base: number): number[] | undefined;
}

/**
 * Input the gzip is not given as bytes: `length` bytes from `offset` of a source that reads them
 * when asked. They are read only for a block that has to be compressed, not for one copied from an
 * earlier member (KnownBlock and MemberLookup say which): a rebuild of a large tree reads only the
 * blocks around what changed. A chunk of the input stream is a Buffer or one of these.
 */
export interface LazyBytes {
  readonly source: LazySource;
  readonly offset: number;
  readonly length: number;
}

export interface LazySource {
  /** `length` bytes from `offset` (all of them, or it fails). */
  read(offset: number, length: number): Promise<Buffer>;
  /** The tar headers in the bytes from `offset` to `offset + length`, for the cutter (BlockCutter.skip). */
  headers(offset: number, length: number): readonly HeaderMark[];
}

/** A piece of the input: bytes, or bytes to be read. */
export type Piece = Buffer | LazyBytes;

/**
 * What the caller knows of the input block from `start` to `end` (offsets in the input) before it
 * is read: its sha256 and CRC-32, worked out earlier from the same bytes (undefined: not known).
 */
export type KnownBlock = (start: number, end: number) => { readonly sha256: string; readonly crc: number } | undefined;

/** Finds an earlier compressed member holding exactly the block with this sha256 and length, or resolves undefined. */
export type MemberLookup = (sha256: string, rawBytes: number) => Promise<Buffer | undefined>;

export interface ParallelGzipOptions {
  /** Uncompressed bytes per gzip member when no cutter is given; fixed so the same input gives the same output. */
  readonly blockBytes?: number;
  /** Where members end (default: every `blockBytes`). */
  readonly cutter?: BlockCutter;
  /**
   * Members in flight at once (zlib runs them on libuv's thread pool). More than the cores, so the
   * producer (the tar rewrite on the main thread) keeps working while every core compresses.
   */
  readonly concurrency?: number;
  readonly level?: number;
  /** Reuse of members compressed before (a verified copy instead of compressing again). */
  readonly reuse?: MemberLookup;
  /** Blocks whose sha256 and CRC-32 need not be worked out again (a block it does not know is hashed). */
  readonly known?: KnownBlock;
  /** Called for each member in output order, once it is written. */
  readonly onMember?: (member: GzipMember & { reused: boolean }) => void;
}

/**
 * gzip on several cores: the input is cut into blocks, each compressed as its own gzip member on
 * the thread pool, and the members are written in order. Concatenated members are one valid gzip
 * stream (RFC 1952; `gzip -t`, `tar -xz` and zlib's gunzip read them). Node's gzip header carries
 * no mtime or name, so equal input gives equal bytes. Memory stays at about concurrency × block
 * size whatever the input's size. With `reuse`, a block whose bytes an earlier output already
 * compressed is copied from there (checked against the member's own CRC-32 and length).
 */
export function createParallelGzip(options: ParallelGzipOptions = {}): Transform {
  const cutter = options.cutter ?? fixedCutter(options.blockBytes ?? 1024 * 1024);
  const concurrency = Math.max(1, options.concurrency ?? Math.min(availableParallelism() + 2, 8));
  const zlibOptions: ZlibOptions = { level: options.level ?? 6 };
  const track = options.reuse !== undefined || options.onMember !== undefined;
  // A block as the pieces it arrived in: joined into one buffer only when it is compressed, not
  // when an earlier member holding it is copied (most of a rebuild's slug); pieces given as
  // LazyBytes are read only then too.
  const pending = new PieceQueue<Piece>();
  let written = 0;
  const inFlight: Promise<{ gz: Buffer; sha256: string; rawBytes: number; reused: boolean }>[] = [];

  const compress = (start: number, pieces: Piece[]): void => {
    const rawBytes = pieces.reduce((n, b) => n + b.length, 0);
    const known = track ? options.known?.(start, start + rawBytes) : undefined;
    const job = async (): Promise<{ gz: Buffer; sha256: string; rawBytes: number; reused: boolean }> => {
      // A block it knows is looked for among earlier members before anything is read.
      const earlierKnown = known && options.reuse ? await options.reuse(known.sha256, rawBytes).catch(() => undefined) : undefined;
      if (known && earlierKnown && holds(earlierKnown, rawBytes, known.crc)) return { gz: earlierKnown, sha256: known.sha256, rawBytes, reused: true };
      const bytes = await readPieces(pieces);
      const sha256 = track ? (known?.sha256 ?? sha256Of(bytes)) : "";
      const earlier = options.reuse && !known ? await options.reuse(sha256, rawBytes).catch(() => undefined) : undefined;
      if (earlier && holds(earlier, rawBytes, crcOf(bytes))) return { gz: earlier, sha256, rawBytes, reused: true };
      const raw = bytes.length === 1 ? bytes[0]! : Buffer.concat(bytes, rawBytes);
      const level = (await looksIncompressible(raw)) ? STORED : zlibOptions;
      return { gz: await gzipAsync(raw, { ...level, chunkSize: wholeOutput(rawBytes) }), sha256, rawBytes, reused: false };
    };
    const p = job();
    p.catch(() => undefined);
    inFlight.push(p);
  };

  // Emits finished members in order while more than `keep` are in flight.
  async function drain(stream: Transform, keep: number): Promise<void> {
    while (inFlight.length > keep) {
      const m = await inFlight.shift()!;
      stream.push(m.gz);
      options.onMember?.({ sha256: m.sha256, rawBytes: m.rawBytes, offset: written, bytes: m.gz.length, reused: m.reused });
      written += m.gz.length;
    }
  }

  // A piece in, with where the cutter cuts after it: the blocks it completes go to be compressed.
  const take = async (stream: Transform, piece: Piece, cuts: readonly number[]): Promise<void> => {
    pending.push(piece);
    for (const at of cuts) {
      if (at > pending.start) compress(pending.start, pending.take(at - pending.start));
      await drain(stream, concurrency - 1);
    }
  };

  // Buffers and LazyBytes in (an object-mode writable side), bytes out.
  return new Transform({
    writableObjectMode: true,
    transform(chunk: Piece, _enc, cb: TransformCallback) {
      const work = async (): Promise<void> => {
        if (Buffer.isBuffer(chunk)) return take(this, chunk, cutter.feed(chunk));
        // LazyBytes: cut by what its source knows of them; where the cutter cannot tell from that, read and cut as bytes.
        const cuts = cutter.skip?.(chunk.length, chunk.source.headers(chunk.offset, chunk.length), chunk.offset);
        if (cuts) return take(this, chunk, cuts);
        for (let at = 0; at < chunk.length; at += LAZY_READ_BYTES) {
          const bytes = await chunk.source.read(chunk.offset + at, Math.min(LAZY_READ_BYTES, chunk.length - at));
          await take(this, bytes, cutter.feed(bytes));
        }
      };
      work().then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      const work = async (): Promise<void> => {
        if (pending.bytes > 0 || (inFlight.length === 0 && written === 0)) compress(pending.start, pending.take(pending.bytes));
        await drain(this, 0);
      };
      work().then(() => cb(), cb);
    },
  });
}

/** LazyBytes the cutter cannot cut unread are read this much at a time. */
const LAZY_READ_BYTES = 1024 * 1024;

/** A block's pieces as bytes: those given as LazyBytes read (at once, side by side). */
async function readPieces(pieces: readonly Piece[]): Promise<Buffer[]> {
  if (pieces.every((p) => Buffer.isBuffer(p))) return pieces as Buffer[];
  return Promise.all(pieces.map((p) => (Buffer.isBuffer(p) ? p : p.source.read(p.offset, p.length))));
}

/** Bytes held as the pieces they arrived in, taken from the front a block at a time. */
export class PieceQueue<P extends Piece = Buffer> {
  private pieces: P[] = [];
  /** How many bytes it holds. */
  bytes = 0;
  /** The offset, in all the bytes ever pushed, of the first one it holds. */
  start = 0;

  push(piece: P): void {
    this.pieces.push(piece);
    this.bytes += piece.length;
  }

  /** The first `bytes` it holds (no more than it holds), as pieces: the last one cut where they end. */
  take(bytes: number): P[] {
    const block: P[] = [];
    let left = bytes;
    let whole = 0; // pieces taken whole
    while (left > 0) {
      const head = this.pieces[whole]!;
      if (head.length <= left) {
        block.push(head);
        whole++;
        left -= head.length;
      } else {
        block.push(slicePiece(head, 0, left));
        this.pieces[whole] = slicePiece(head, left, head.length);
        left = 0;
      }
    }
    this.pieces = this.pieces.slice(whole);
    this.bytes -= bytes;
    this.start += bytes;
    return block;
  }
}

/** Bytes `from` to `to` of a piece, as the same kind of piece. */
function slicePiece<P extends Piece>(piece: P, from: number, to: number): P {
  if (Buffer.isBuffer(piece)) return piece.subarray(from, to) as P;
  const lazy: LazyBytes = { source: piece.source, offset: piece.offset + from, length: to - from };
  return lazy as P;
}

/** A cut every `blockBytes` of input. */
export function fixedCutter(blockBytes: number): BlockCutter {
  let seen = 0;
  let next = blockBytes;
  return {
    feed(chunk) {
      seen += chunk.length;
      const cuts: number[] = [];
      while (next <= seen) {
        cuts.push(next);
        next += blockBytes;
      }
      return cuts;
    },
  };
}

const STORED: ZlibOptions = { level: 0 };
const SAMPLE_BYTES = 64 * 1024;

/**
 * Already-compressed content (images, archives, random bytes) is stored rather than deflated:
 * deflating it costs as much as any other data and gains nothing. Decided from the block's first
 * 64 KiB at the fastest level, so the same block is always treated the same way; on the thread
 * pool (on the main thread it was 6-8 ms of a 20 000-file rebuild's slug step).
 */
async function looksIncompressible(raw: Buffer): Promise<boolean> {
  if (raw.length < 2 * SAMPLE_BYTES) return false;
  return (await deflateRawAsync(raw.subarray(0, SAMPLE_BYTES), { level: 1 })).length > SAMPLE_BYTES * 0.97;
}

/**
 * An output buffer that holds a whole member, so zlib compresses a block in one go on the thread
 * pool. With its 16 KiB default, every 16 KiB of output came back to the main thread (busy with
 * the tar rewrite) before zlib went on, and the cores waited for it.
 */
function wholeOutput(rawBytes: number): number {
  return Math.max(16 * 1024, rawBytes + (rawBytes >> 8) + 1024);
}

/** Whether a gzip member's trailer (CRC-32 and length of what it holds) matches the block's. */
function holds(member: Buffer, rawBytes: number, crc: number): boolean {
  if (member.length < 18 || member[0] !== 0x1f || member[1] !== 0x8b) return false;
  return member.readUInt32LE(member.length - 4) === rawBytes % 2 ** 32 && member.readUInt32LE(member.length - 8) === crc;
}

/** The CRC-32 of a block given as pieces (a gzip member's trailer holds it). */
export function crcOf(pieces: readonly Buffer[]): number {
  return pieces.reduce((c, b) => crc32(b, c), 0);
}

/** The sha256 of a block given as pieces, in hex: what a member is found by. */
export function sha256Of(pieces: readonly Buffer[]): string {
  const hash = createHash("sha256");
  for (const b of pieces) hash.update(b);
  return hash.digest("hex");
}
