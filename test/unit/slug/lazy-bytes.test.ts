import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { crc32, gunzipSync } from "node:zlib";
import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { createParallelGzip, fixedCutter, type BlockCutter, type GzipMember, type KnownBlock, type LazySource, type MemberLookup, type Piece } from "../../../src/slug/parallel-gzip.js";
import { createTarCutter, type HeaderMark, type TarCutterOptions } from "../../../src/slug/tar-cutter.js";

/*
 * Input given to the gzip unread (LazyBytes): the tar cutter cuts it from its headers as it would
 * from its bytes, and the gzip reads it only for the blocks it compresses.
 */

const SMALL: TarCutterOptions = { minBytes: 16 * 1024, maxBytes: 64 * 1024, bits: 3 };

/** A tar of small files, large ones (cut inside their bodies), long names (pax headers) and links. */
async function mixedTar(): Promise<Buffer> {
  const pack = tar.pack();
  const mtime = new Date("2020-01-01T00:00:00Z");
  pack.entry({ name: "app/", type: "directory", mtime });
  for (let i = 0; i < 300; i++) {
    const name = i % 41 === 7 ? `app/${"deep/".repeat(30)}file-${i}.py` : `app/pkg${Math.floor(i / 20)}/file-${i}.py`;
    if (i % 53 === 11) pack.entry({ name, type: "symlink", linkname: "elsewhere", mtime });
    else if (i % 97 === 5) pack.entry({ name, mtime }, Buffer.alloc(150_000 + i, i));
    else pack.entry({ name, mtime }, createHash("sha512").update(name).digest("hex").repeat(1 + (i % 29)));
  }
  pack.finalize();
  return buffer(pack as unknown as Readable);
}

/** Every header of `bytes` as the cutter meets them, and the cuts it gives fed whole. */
function recorded(bytes: Buffer): { marks: HeaderMark[]; cuts: number[] } {
  const cutter = createTarCutter(SMALL);
  const marks: HeaderMark[] = [];
  cutter.onHeader = (m) => void marks.push(m);
  return { cuts: cutter.feed(bytes), marks };
}

/** Where the entries start (the cutter's headers but a pax header's entry header after it) and where the end-of-archive blocks start. */
function entryStarts(marks: readonly HeaderMark[]): number[] {
  const starts: number[] = [];
  let next = 0;
  for (const m of marks) {
    if (m.at >= next) starts.push(m.at);
    next = m.at + 512 + Math.ceil(m.size / 512) * 512;
  }
  return [...starts, next];
}

/**
 * `bytes` as a source of LazyBytes that holds them `shift` bytes on (as a laid tar holds a slug's
 * entries elsewhere than the slug); each read is told to `reads`.
 */
function sourceOf(bytes: Buffer, marks: readonly HeaderMark[], reads: [number, number][] = [], shift = 0): LazySource {
  const held = Buffer.concat([Buffer.alloc(shift, 0x55), bytes]);
  const heldMarks = marks.map((m) => ({ ...m, at: m.at + shift }));
  return {
    read: async (offset, length) => {
      reads.push([offset, length]);
      return Buffer.from(held.subarray(offset, offset + length));
    },
    headers: (offset, length) => heldMarks.filter((m) => m.at >= offset && m.at < offset + length),
  };
}

/** `bytes` as pieces cut at every `every`th entry start, given lazily and as bytes in turn. */
function pieces(bytes: Buffer, marks: readonly HeaderMark[], source: LazySource, every: number, lazyFirst: boolean, shift = 0): Piece[] {
  const starts = entryStarts(marks);
  const bounds = [0, ...starts.filter((_, i) => i % every === every - 1), bytes.length].filter((b, i, all) => i === 0 || b > all[i - 1]!);
  const out: Piece[] = [];
  for (let i = 1; i < bounds.length; i++) {
    const [from, to] = [bounds[i - 1]!, bounds[i]!];
    // The end-of-archive blocks (no header of their own) always come as bytes.
    const lazy = (i % 2 === 1) === lazyFirst && to <= starts[starts.length - 1]!;
    out.push(lazy ? { source, offset: from + shift, length: to - from } : bytes.subarray(from, to));
  }
  return out;
}

async function gzipOf(input: Piece[], cutter: BlockCutter, options: { reuse?: MemberLookup; known?: KnownBlock } = {}): Promise<{ gz: Buffer; members: GzipMember[]; reused: number }> {
  const members: GzipMember[] = [];
  let reused = 0;
  const gz = await buffer(
    Readable.from(input).pipe(
      createParallelGzip({
        cutter,
        concurrency: 3,
        ...options,
        onMember: ({ reused: r, ...m }) => {
          members.push(m);
          if (r) reused += m.rawBytes;
        },
      }),
    ),
  );
  return { gz, members, reused };
}

describe("the tar cutter over bytes not given", () => {
  it("cuts where the bytes would be cut, however the input is split between bytes and skipped runs of entries", async () => {
    const bytes = await mixedTar();
    const { marks, cuts } = recorded(bytes);
    expect(marks.length).toBeGreaterThan(300);
    expect(cuts.length).toBeGreaterThan(10);
    for (const [every, shift] of [[1, 0], [2, 3584], [3, 0], [7, 512 * 1001], [40, 1024]] as const) {
      const source = sourceOf(bytes, marks, [], shift);
      for (const lazyFirst of [true, false]) {
        const cutter = createTarCutter(SMALL);
        const got: number[] = [];
        let skipped = 0;
        for (const p of pieces(bytes, marks, source, every, lazyFirst, shift)) {
          if (Buffer.isBuffer(p)) got.push(...cutter.feed(p));
          else {
            const c = cutter.skip(p.length, source.headers(p.offset, p.length), p.offset);
            expect(c, `skip at ${p.offset}`).toBeDefined();
            got.push(...c!);
            skipped++;
          }
        }
        expect(skipped).toBeGreaterThan(0);
        expect(got).toEqual(cuts);
      }
    }
  });

  it("will not skip where it cannot tell the cuts: inside a header, marks that do not make whole entries, past the end", async () => {
    const bytes = await mixedTar();
    const { marks } = recorded(bytes);
    const starts = entryStarts(marks);
    const [a, b, c] = [starts[3]!, starts[4]!, starts[5]!];
    const halfway = createTarCutter(SMALL);
    halfway.feed(bytes.subarray(0, a + 100));
    expect(halfway.skip(b - a, marks.filter((m) => m.at >= a && m.at < b), a)).toBeUndefined();
    const fresh = (): ReturnType<typeof createTarCutter> => {
      const cutter = createTarCutter(SMALL);
      cutter.feed(bytes.subarray(0, a));
      return cutter;
    };
    // One entry short, one too many, none, and not starting where the bytes do.
    expect(fresh().skip(c - a, marks.filter((m) => m.at >= a && m.at < b), a)).toBeUndefined();
    expect(fresh().skip(b - a, marks.filter((m) => m.at >= a && m.at < c), a)).toBeUndefined();
    expect(fresh().skip(b - a, [], a)).toBeUndefined();
    // Refused, nothing changed: the bytes fed then are cut as they would have been.
    const cutter = createTarCutter(SMALL);
    const first = cutter.feed(bytes.subarray(0, a));
    expect(cutter.skip(c - a, marks.filter((m) => m.at >= a && m.at < b), a)).toBeUndefined();
    expect([...first, ...cutter.feed(bytes.subarray(a))]).toEqual(recorded(bytes).cuts);
    const ended = createTarCutter(SMALL);
    ended.feed(bytes);
    expect(ended.skip(b - a, marks.filter((m) => m.at >= a && m.at < b), a)).toBeUndefined();
  });
});

describe("the parallel gzip given LazyBytes", () => {
  it("writes the bytes it would write given them all, reading only the blocks it compresses", async () => {
    const bytes = await mixedTar();
    const { marks } = recorded(bytes);
    const plain = await gzipOf([bytes], createTarCutter(SMALL));
    expect(gunzipSync(plain.gz).equals(bytes)).toBe(true);
    const bySha = new Map(plain.members.map((m) => [m.sha256, m]));
    const reuse: MemberLookup = async (sha) => {
      const m = bySha.get(sha);
      return m ? plain.gz.subarray(m.offset, m.offset + m.bytes) : undefined;
    };
    // What a laid tar's recording knows: every block's sha256 (and CRC-32) by where it starts.
    const hashes = new Map<number, { end: number; sha256: string; crc: number }>();
    let start = 0;
    for (const m of plain.members) {
      hashes.set(start, { end: start + m.rawBytes, sha256: m.sha256, crc: crc32(bytes.subarray(start, start + m.rawBytes)) });
      start += m.rawBytes;
    }
    const known: KnownBlock = (from, to) => {
      const h = hashes.get(from);
      return h && h.end === to ? h : undefined;
    };
    for (const [every, shift] of [[1, 0], [5, 2048], [40, 0]] as const) {
      // Without reuse every block is read and compressed: the same bytes as given whole.
      const reads: [number, number][] = [];
      const lazy = await gzipOf(pieces(bytes, marks, sourceOf(bytes, marks, reads, shift), every, true, shift), createTarCutter(SMALL));
      expect(lazy.gz.equals(plain.gz)).toBe(true);
      expect(reads.length).toBeGreaterThan(0);
      // With reuse and what is known: every block copied, nothing read.
      reads.length = 0;
      const copied = await gzipOf(pieces(bytes, marks, sourceOf(bytes, marks, reads, shift), every, true, shift), createTarCutter(SMALL), { reuse, known });
      expect(copied.gz.equals(plain.gz)).toBe(true);
      expect(copied.reused).toBe(bytes.length);
      expect(reads).toEqual([]);
    }
  });

  it("reads what a cutter without skip cannot cut unread, a megabyte at a time, with the same output", async () => {
    const bytes = Buffer.concat([await mixedTar(), Buffer.alloc(3 * 1024 * 1024, 1)]);
    const plain = await gzipOf([bytes], fixedCutter(256 * 1024));
    const reads: [number, number][] = [];
    const source = sourceOf(bytes, [], reads);
    const lazy = await gzipOf([bytes.subarray(0, 1000), { source, offset: 1000, length: bytes.length - 1000 }], fixedCutter(256 * 1024));
    expect(lazy.gz.equals(plain.gz)).toBe(true);
    expect(Math.max(...reads.map(([, n]) => n))).toBe(1024 * 1024);
    expect(reads.reduce((n, [, l]) => n + l, 0)).toBe(bytes.length - 1000);
  });

  it("fails the stream when a read fails", async () => {
    const bytes = await mixedTar();
    const { marks } = recorded(bytes);
    const failing: LazySource = { read: async () => Promise.reject(new Error("the laid tar is gone")), headers: sourceOf(bytes, marks).headers };
    await expect(gzipOf(pieces(bytes, marks, failing, 3, true), createTarCutter(SMALL))).rejects.toThrow(/the laid tar is gone/);
  });
});
