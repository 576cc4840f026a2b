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
import { createFsSlugStore } from "../../../src/slug/fs-slug-store.js";
import { normaliseEntry, rerootUnderApp, storeSlug } from "../../../src/slug/slug-writer.js";

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

describe("storeSlug", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "slug-writer-"));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const fileOf = (hex: string): string => path.join(dir, "sha256", hex.slice(0, 2), `${hex}.tar.gz`);

  it("re-roots under ./app/, drops .git, stores by sha256, read-only", async () => {
    const slug = await storeSlug(dockerStyleTar({ "web.py": "x", ".git/": "", ".git/HEAD": "ref", "vendor/": "", "vendor/lib/.git/": "", "vendor/a.py": "a" }), createFsSlugStore(dir), {
      maxBytes: 1e9,
    });
    const file = fileOf(slug.sha256);
    expect(await names(file)).toEqual(["./app/", "./app/web.py", "./app/vendor/", "./app/vendor/a.py"]);
    const hash = createHash("sha256");
    await pipeline(createReadStream(file), hash);
    expect(slug.sha256).toBe(hash.digest("hex"));
    expect(slug.id).toBe(`sha256:${slug.sha256}`);
    expect((await stat(file)).mode & 0o777).toBe(0o444);
    expect((await stat(file)).size).toBe(slug.sizeBytes);
  });


  it("leaves out overlay whiteouts (0/0 character devices) read from a container's layer, and keeps other devices", async () => {
    const pack = tar.pack();
    pack.entry({ name: "app/", type: "directory", mode: 0o755 });
    pack.entry({ name: "app/deleted", type: "character-device", mode: 0, devmajor: 0, devminor: 0 });
    pack.entry({ name: "app/null", type: "character-device", mode: 0o666, devmajor: 1, devminor: 3 });
    pack.entry({ name: "app/web.py", mode: 0o644 }, "x");
    pack.finalize();
    const slug = await storeSlug(Readable.from(pack as unknown as AsyncIterable<Buffer>), createFsSlugStore(dir), { maxBytes: 1e9 });
    expect(await names(fileOf(slug.sha256))).toEqual(["./app/", "./app/null", "./app/web.py"]);
  });
  it("gives the same bytes for the same tree, whatever the owners and build-time mtimes", async () => {
    const tree = (mtime: Date, uid: number): Readable => {
      const pack = tar.pack();
      pack.entry({ name: "app/", type: "directory", mode: 0o755, mtime, uid });
      pack.entry({ name: "app/run", mode: 0o4755, mtime, uid, uname: `u${uid}` }, "#!/bin/sh\n");
      pack.finalize();
      return Readable.from(pack as unknown as AsyncIterable<Buffer>);
    };
    const clampMtime = new Date("2024-05-01T00:00:00Z");
    const a = await storeSlug(tree(new Date(), 0), createFsSlugStore(dir), { maxBytes: 1e9, clampMtime });
    const b = await storeSlug(tree(new Date(Date.now() + 5000), 1234), createFsSlugStore(dir), { maxBytes: 1e9, clampMtime });
    expect(b.id).toBe(a.id);
    const header = normaliseEntry({ name: "./app/old.py", type: "file", mode: 0o6644, mtime: new Date("2020-01-01T00:00:00.5Z") }, { clampMtime });
    expect(header).toMatchObject({ mode: 0o644, uid: 1000, gid: 1000, mtime: new Date("2020-01-01T00:00:00Z") });
  });

  it("copies an earlier slug's members with a few reads of several members each, and alone when such a read fails", async () => {
    // 400 files of 16 KB of text: about 13 blocks, of which a change to one file spoils one or two.
    const text = (i: number, extra = ""): string => Array.from({ length: 400 }, (_, k) => `line ${k} of file ${i}: ${(i * 7919 + k * 104729) % 1000003}`).join("\n") + extra;
    const files = (changed: number): Record<string, string> => Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`f${String(i).padStart(3, "0")}.txt`, text(i, i === changed ? "changed" : "")]));
    const store = createFsSlugStore(dir);
    const first = await storeSlug(dockerStyleTar(files(-1)), store, { maxBytes: 1e9 });
    expect(first.members.length).toBeGreaterThan(5);
    const fresh = await storeSlug(dockerStyleTar(files(200)), createFsSlugStore(path.join(dir, "fresh")), { maxBytes: 1e9 });
    const counted = (failLong: boolean): { store: typeof store; reads: number[] } => {
      const reads: number[] = [];
      return {
        reads,
        store: {
          ...store,
          readRange: async (id, offset, length) => {
            reads.push(length);
            const one = first.members.some((m) => m.offset === offset && m.bytes === length);
            return failLong && !one ? undefined : store.readRange(id, offset, length);
          },
        },
      };
    };
    for (const failLong of [false, true]) {
      const { store: s, reads } = counted(failLong);
      const again = await storeSlug(dockerStyleTar(files(200)), s, { maxBytes: 1e9, previous: [{ slugId: first.id, members: first.members }] });
      // The same bytes as a slug compressed whole, most of them copied.
      expect(again.id).toBe(fresh.id);
      const reusedMembers = again.members.filter((m) => first.members.some((f) => f.sha256 === m.sha256)).length;
      expect(again.reusedBytes).toBeGreaterThan(0);
      expect(reusedMembers).toBeGreaterThan(first.members.length - 3);
      if (failLong) expect(reads.filter((n) => first.members.some((m) => m.bytes === n)).length).toBeGreaterThanOrEqual(reusedMembers);
      else expect(reads.length).toBeLessThanOrEqual(3);
    }
  });

  it("SLUG_TOO_LARGE names the largest directories and keeps nothing", async () => {
    const random = (n: number): string => Array.from({ length: n }, () => Math.random().toString(36).slice(2)).join("");
    const err = await storeSlug(dockerStyleTar({ "big/": "", "big/a": random(5000), "small/": "", "small/b": "b" }), createFsSlugStore(dir), { maxBytes: 2048 }).catch((e: unknown) => e);
    expect(isSlugforgeError(err) && err.code).toBe("SLUG_TOO_LARGE");
    if (!isSlugforgeError(err)) throw err;
    expect(err.message).toMatch(/Compiled slug size: .* is too large \(max is 2K\)\. Largest directories: big \d+K, small 1B/);
    expect((err.data.largestDirectories as { path: string }[]).map((d) => d.path)).toEqual(["big", "small"]);
    expect(await readdir(path.join(dir, "sha256"))).toEqual([]);
  });

  it("rerootUnderApp keeps the root and directory slashes", () => {
    expect(rerootUnderApp({ name: "app/", type: "directory" })?.name).toBe("./app/");
    expect(rerootUnderApp({ name: "app/x/", type: "directory" })?.name).toBe("./app/x/");
    expect(rerootUnderApp({ name: "app/.git", type: "directory" })).toBeUndefined();
    expect(rerootUnderApp({ name: "app/.gitignore", type: "file" })?.name).toBe("./app/.gitignore");
  });

  it("rerootUnderApp gives the same names on its fast path (usual names) and its slow one (empty parts)", () => {
    const cases: [string, string, string | undefined][] = [
      ["app", "directory", "./app/"],
      ["./app", "directory", "./app/"],
      ["./app/", "directory", "./app/"],
      ["app/a/b.py", "file", "./app/a/b.py"],
      ["./app/a/b/", "directory", "./app/a/b/"],
      ["app/a/b", "directory", "./app/a/b/"],
      ["other/x", "file", "./app/x"],
      ["app/.git/config", "file", undefined],
      ["app/sub/.git", "file", undefined],
      ["app/sub/.git/", "directory", undefined],
      ["app/sub/.git/HEAD", "file", undefined],
      ["app/.github/workflows/ci.yml", "file", "./app/.github/workflows/ci.yml"],
      ["app/a.git/x", "file", "./app/a.git/x"],
      // Empty parts: the slow path drops them.
      ["app//a///b", "file", "./app/a/b"],
      ["/app/a", "file", "./app/a"],
      ["app//.git/x", "file", undefined],
    ];
    for (const [name, type, expected] of cases) expect(rerootUnderApp({ name, type: type as "file" })?.name, name).toBe(expected);
  });

  it("names the largest folders of an over-size slug, two levels down, whatever the names' form", async () => {
    const { createDirectorySizes } = await import("../../../src/slug/directory-sizes.js");
    const sizes = createDirectorySizes(2);
    sizes.add("./app/a/b/c.py", 10);
    sizes.add("./app/a/d.py", 5);
    sizes.add("./app/top.py", 100);
    sizes.add("./app/a//b/e.py", 1);
    sizes.add("./app/x/y/z/w.py", 7);
    const expected = [
      { path: "a", bytes: 16 },
      { path: "a/b", bytes: 11 },
      { path: "x", bytes: 7 },
      { path: "x/y", bytes: 7 },
    ];
    expect(sizes.largest(5)).toEqual(expected);
    expect(sizes.largest(5)).toEqual(expected);
    // Out of order too (a folder's files apart), and after a first answer.
    sizes.add("./app/x/y/v.py", 3);
    sizes.add("./app/a/b/f.py", 2);
    sizes.add("./app/ab/g.py", 1);
    expect(sizes.largest(3)).toEqual([
      { path: "a", bytes: 18 },
      { path: "a/b", bytes: 13 },
      { path: "x", bytes: 10 },
    ]);
  });

  it("adds up more names than it keeps at once, a folder's files split between two sums", async () => {
    const { createDirectorySizes } = await import("../../../src/slug/directory-sizes.js");
    const sizes = createDirectorySizes(2);
    // 150 000 files in 3 folders of 2 levels: the sums are made three times as the names come (every 65 536), then when asked.
    for (let i = 0; i < 150_000; i++) sizes.add(`./app/d${Math.floor(i / 50_000)}/s/f${i}.py`, 2);
    expect(sizes.largest(2)).toEqual([
      { path: "d0", bytes: 100_000 },
      { path: "d0/s", bytes: 100_000 },
    ]);
    expect(sizes.largest(6).map((d) => d.path)).toEqual(["d0", "d0/s", "d1", "d1/s", "d2", "d2/s"]);
  });
});
