import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createHash } from "node:crypto";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isSlugforgeError } from "../../../src/errors.js";
import { rerootUnderApp, writeSlug } from "../../../src/slug/slug-writer.js";

function dockerStyleTar(files: Record<string, string>): Readable {
  const pack = tar.pack();
  pack.entry({ name: "app/", type: "directory", mode: 0o755 });
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith("/")) pack.entry({ name: `app/${name}`, type: "directory", mode: 0o755 });
    else pack.entry({ name: `app/${name}`, mode: 0o644 }, content);
  }
  pack.finalize();
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

async function names(file: string): Promise<string[]> {
  const out: string[] = [];
  const extract = tar.extract();
  extract.on("entry", (h, s, next) => {
    out.push(h.name);
    s.on("end", () => next());
    s.resume();
  });
  await pipeline(createReadStream(file), createGunzip(), extract as unknown as Writable);
  return out;
}

describe("writeSlug", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "slug-writer-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("re-roots under ./app/, drops .git, names the file by its sha256, mode 0444, no temp left", async () => {
    const slug = await writeSlug(dockerStyleTar({ "web.py": "x", ".git/": "", ".git/HEAD": "ref", "vendor/": "", "vendor/lib/.git/": "", "vendor/a.py": "a" }), {
      slugsDir: dir,
      maxBytes: 1e9,
    });
    expect(await names(slug.path)).toEqual(["./app/", "./app/web.py", "./app/vendor/", "./app/vendor/a.py"]);
    const hash = createHash("sha256");
    await pipeline(createReadStream(slug.path), hash);
    expect(slug.sha256).toBe(hash.digest("hex"));
    expect(path.basename(slug.path)).toBe(`${slug.sha256}.tar.gz`);
    expect((await stat(slug.path)).mode & 0o777).toBe(0o444);
    expect((await stat(slug.path)).size).toBe(slug.size);
    expect(await readdir(dir)).toEqual([path.basename(slug.path)]);
  });

  it("SLUG_TOO_LARGE names the largest directories and keeps nothing", async () => {
    const random = (n: number): string => Array.from({ length: n }, () => Math.random().toString(36).slice(2)).join("");
    const err = await writeSlug(dockerStyleTar({ "big/": "", "big/a": random(5000), "small/": "", "small/b": "b" }), { slugsDir: dir, maxBytes: 2048 }).catch((e: unknown) => e);
    expect(isSlugforgeError(err) && err.code).toBe("SLUG_TOO_LARGE");
    if (!isSlugforgeError(err)) throw err;
    expect(err.message).toMatch(/Compiled slug size: .* is too large \(max is 2K\)\. Largest directories: big \d+K, small 1B/);
    expect((err.data.largestDirectories as { path: string }[]).map((d) => d.path)).toEqual(["big", "small"]);
    expect(await readdir(dir)).toEqual([]);
  });

  it("rerootUnderApp keeps the root and directory slashes", () => {
    expect(rerootUnderApp({ name: "app/", type: "directory" })?.name).toBe("./app/");
    expect(rerootUnderApp({ name: "app/x/", type: "directory" })?.name).toBe("./app/x/");
    expect(rerootUnderApp({ name: "app/.git", type: "directory" })).toBeUndefined();
    expect(rerootUnderApp({ name: "app/.gitignore", type: "file" })?.name).toBe("./app/.gitignore");
  });
});
