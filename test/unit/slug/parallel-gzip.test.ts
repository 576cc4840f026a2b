import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createParallelGzip } from "../../../src/slug/parallel-gzip.js";

async function compress(input: Buffer, chunk = 7000, blockBytes = 64 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(input.subarray(i, i + chunk));
  return buffer(Readable.from(parts).pipe(createParallelGzip({ blockBytes, concurrency: 3 })));
}

describe("parallel gzip", () => {
  const input = Buffer.concat([randomBytes(300_000), Buffer.alloc(500_000, "slugforge "), randomBytes(1234)]);

  it("round-trips through zlib and is the same for the same input", async () => {
    const a = await compress(input);
    expect(gunzipSync(a).equals(input)).toBe(true);
    expect((await compress(input, 999)).equals(a)).toBe(true);
    expect(a.length).toBeLessThan(input.length);
  });

  it("is one valid gzip stream for gzip -t and gunzip", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sf-gz-"));
    try {
      const file = path.join(dir, "x.gz");
      writeFileSync(file, await compress(input));
      execFileSync("gzip", ["-t", file]);
      expect(execFileSync("gzip", ["-dc", file]).equals(input)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gives a valid stream for empty input", async () => {
    expect(gunzipSync(await compress(Buffer.alloc(0))).length).toBe(0);
  });
});

describe("parallel gzip of incompressible data", () => {
  it("stores random bytes instead of deflating them, and still round-trips", async () => {
    const input = randomBytes(600_000);
    const gz = await compress(input, 50_000, 256 * 1024);
    expect(gunzipSync(gz).equals(input)).toBe(true);
    // Stored blocks: a few bytes of framing per 64 KiB, nothing like deflate's failed attempts.
    expect(gz.length).toBeLessThan(input.length + 1000);
  });
});
