import { randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { mapTar } from "../../../src/slug/tar-transform.js";
import { storeSlug } from "../../../src/slug/slug-writer.js";
import type { SlugStore } from "../../../src/slug/slug-store.js";

/** A tar with a few large files, fed slowly enough that a failure lands in the middle of an entry. */
function bigTar(files = 6, size = 4 * 1024 * 1024): Readable {
  const pack = tar.pack();
  void (async () => {
    pack.entry({ name: "app/", type: "directory", mode: 0o755 });
    for (let i = 0; i < files; i++) {
      const entry = pack.entry({ name: `app/f${i}`, size, mode: 0o644 });
      entry.on("error", () => undefined); // the generator's own entry, torn down with its pack
      for (let off = 0; off < size; off += 256 * 1024) {
        if (!entry.write(randomBytes(256 * 1024))) await new Promise<void>((r) => entry.once("drain", () => r()));
      }
      (entry as unknown as NodeJS.WritableStream).end();
    }
    pack.finalize();
  })().catch(() => undefined);
  return pack as unknown as Readable;
}

describe("mapTar", () => {
  it("a reader that goes away mid-entry fails the stream, never the process", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    try {
      const out = mapTar(bigTar(), (h) => h);
      let seen = 0;
      const reader = new Writable({
        write(chunk: Buffer, _enc, done) {
          seen += chunk.length;
          // Half way through the second file: the pusher pressed Ctrl-C, the disk filled.
          if (seen > 6 * 1024 * 1024) return done(new Error("the reader went away"));
          done();
        },
      });
      await expect(pipeline(out, reader)).rejects.toThrow("the reader went away");
      await sleep(200);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
  });

  it("an input that fails mid-entry fails the output", async () => {
    const input = bigTar();
    const out = mapTar(input, (h) => h);
    let seen = 0;
    const reader = new Writable({
      write(chunk: Buffer, _e, done) {
        seen += chunk.length;
        // The source (a tar over exec) is cut off in the middle of the second file.
        if (seen > 6 * 1024 * 1024 && !input.destroyed) input.destroy(new Error("the source broke"));
        setImmediate(done);
      },
    });
    await expect(pipeline(out, reader)).rejects.toThrow("the source broke");
  });

  it("a slug write whose store fails part-way rejects the build's promise only", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    const failing: SlugStore = {
      async put(bytes) {
        let n = 0;
        await pipeline(bytes, new Writable({
          write(chunk: Buffer, _e, done) {
            n += chunk.length;
            done(n > 2 * 1024 * 1024 ? Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" }) : null);
          },
        }));
        throw new Error("unreachable");
      },
      get: async () => undefined,
      stat: async () => undefined,
      readRange: async () => undefined,
      list: async () => [],
      delete: async () => undefined,
    };
    try {
      await expect(storeSlug(bigTar(), failing, { maxBytes: 1e9 })).rejects.toThrow(/ENOSPC/);
      await sleep(300);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
  });
});
