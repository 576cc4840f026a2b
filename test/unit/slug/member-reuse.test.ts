import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { crc32, gunzipSync, gzipSync } from "node:zlib";
import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { createParallelGzip, type GzipMember, type KnownBlock, type MemberLookup } from "../../../src/slug/parallel-gzip.js";
import { createTarCutter } from "../../../src/slug/tar-cutter.js";

/** A tar of many files with pseudo-random (but fixed) content; `changed` gets other content. */
async function treeTar(changed?: string): Promise<Buffer> {
  const pack = tar.pack();
  const mtime = new Date("2020-01-01T00:00:00Z");
  pack.entry({ name: "app/", type: "directory", mtime });
  for (let i = 0; i < 400; i++) {
    const name = `app/pkg${Math.floor(i / 20)}/file-${i}.py`;
    const seed = name === changed ? `${name}-changed` : name;
    const body = createHash("sha512").update(seed).digest("hex").repeat(20 + (i % 37));
    pack.entry({ name, mtime, mode: 0o644 }, body);
  }
  pack.entry({ name: "app/big.bin", mtime }, Buffer.alloc(300_000, 7));
  pack.finalize();
  return buffer(pack as unknown as Readable);
}

async function compress(input: Buffer, chunk: number, reuse?: MemberLookup, known?: KnownBlock): Promise<{ gz: Buffer; members: GzipMember[]; reused: number }> {
  const members: GzipMember[] = [];
  let reused = 0;
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(input.subarray(i, i + chunk));
  const gz = await buffer(
    Readable.from(parts).pipe(
      createParallelGzip({
        cutter: createTarCutter({ minBytes: 16 * 1024, maxBytes: 64 * 1024, bits: 3 }),
        concurrency: 3,
        reuse,
        known,
        onMember: ({ reused: r, ...m }) => {
          members.push(m);
          if (r) reused += m.rawBytes;
        },
      }),
    ),
  );
  return { gz, members, reused };
}

function lookupIn(earlier: { gz: Buffer; members: GzipMember[] }): MemberLookup {
  const bySha = new Map(earlier.members.map((m) => [m.sha256, m]));
  return async (sha) => {
    const m = bySha.get(sha);
    return m ? earlier.gz.subarray(m.offset, m.offset + m.bytes) : undefined;
  };
}

describe("slug member reuse", () => {
  it("cuts the same blocks however the input arrives, at tar entries or every maxBytes", async () => {
    const input = await treeTar();
    const a = await compress(input, 5000);
    const b = await compress(input, 65_536);
    expect(b.gz.equals(a.gz)).toBe(true);
    expect(gunzipSync(a.gz).equals(input)).toBe(true);
    expect(a.members.length).toBeGreaterThan(5);
    expect(Math.max(...a.members.map((m) => m.rawBytes))).toBeLessThanOrEqual(64 * 1024);
    expect(a.members.reduce((n, m) => n + m.rawBytes, 0)).toBe(input.length);
  });

  it("a tree with one file changed copies every other block from the earlier output", async () => {
    const before = await compress(await treeTar(), 7000);
    const input = await treeTar("app/pkg10/file-200.py");
    const fresh = await compress(input, 7000);
    const again = await compress(input, 7000, lookupIn(before));
    // Equal input, equal output, whether blocks were copied or compressed.
    expect(again.gz.equals(fresh.gz)).toBe(true);
    expect(gunzipSync(again.gz).equals(input)).toBe(true);
    expect(again.reused).toBeGreaterThan(input.length * 0.8);
    expect(again.reused).toBeLessThan(input.length);
  });

  it("a member whose bytes do not match its block is not used", async () => {
    const input = await treeTar();
    const wrong: MemberLookup = async () => gzipSync(Buffer.from("something else"));
    const result = await compress(input, 9000, wrong);
    expect(result.reused).toBe(0);
    expect(gunzipSync(result.gz).equals(input)).toBe(true);
  });

  it("takes the sha256 and CRC-32 of a block the caller knows instead of working them out", async () => {
    const input = await treeTar();
    const before = await compress(input, 7000);
    const asked: string[] = [];
    // The truth for every block, as the laid tar's recorded blocks give it.
    const truth: KnownBlock = (start, end) => {
      asked.push(`${start}-${end}`);
      const block = input.subarray(start, end);
      return { sha256: createHash("sha256").update(block).digest("hex"), crc: crc32(block) };
    };
    const again = await compress(input, 7000, lookupIn(before), truth);
    expect(asked).toEqual(before.members.map((m, i) => `${before.members.slice(0, i).reduce((n, x) => n + x.rawBytes, 0)}-${before.members.slice(0, i + 1).reduce((n, x) => n + x.rawBytes, 0)}`));
    expect(again.gz.equals(before.gz)).toBe(true);
    expect(again.reused).toBe(input.length);
    // What it is told is what the index keeps (nothing is hashed again)...
    const told = await compress(input, 7000, undefined, (start, end) => ({ sha256: `told-${start}-${end}`, crc: 0 }));
    expect(told.members.every((m) => m.sha256.startsWith("told-"))).toBe(true);
    // ...and a member is copied only when its CRC-32 is the one it is told: else it is compressed again.
    const wrongCrc = await compress(input, 7000, lookupIn(before), (start, end) => ({ ...truth(start, end)!, crc: 1 }));
    expect(wrongCrc.reused).toBe(0);
    expect(gunzipSync(wrongCrc.gz).equals(input)).toBe(true);
  });
});
