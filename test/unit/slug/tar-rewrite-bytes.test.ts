import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, link, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mapTar, type TarHeader, type TarMapper } from "../../../src/slug/tar-transform.js";
import { normaliseEntry, rerootUnderApp, slugTar } from "../../../src/slug/slug-writer.js";
import { readPlainHeader } from "../../../src/slug/tar-headers.js";

/** What mapTar gave before it parsed tar itself: tar-stream's extract → pack, the reference for every byte. */
async function reference(input: Buffer, map: TarMapper): Promise<Buffer> {
  const extract = tar.extract();
  const pack = tar.pack();
  extract.on("entry", (header, body, next) => {
    const mapped = map({ ...header } as TarHeader);
    if (!mapped) {
      body.on("end", () => next());
      body.resume();
      return;
    }
    const pax = mapped.pax as Record<string, string> | null | undefined;
    let out = mapped;
    if (pax) {
      const rest = { ...pax };
      for (const key of ["path", "linkpath", "uid", "gid", "uname", "gname"]) delete rest[key];
      out = { ...mapped, pax: Object.keys(rest).length > 0 ? rest : undefined };
    }
    body.pipe(pack.entry(out, (err) => (err ? extract.destroy(err) : next())) as unknown as Writable);
  });
  extract.on("finish", () => pack.finalize());
  const done = collect(pack as unknown as Readable);
  extract.end(input);
  return done;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(stream, new Writable({ write: (c: Buffer, _e, done) => void (chunks.push(c), done()) }));
  return Buffer.concat(chunks);
}

/** The input cut into pieces of the given sizes (round robin), so headers and bodies straddle chunks. */
function chunked(input: Buffer, sizes: number[]): Readable {
  const pieces: Buffer[] = [];
  for (let off = 0, i = 0; off < input.length; i++) {
    const n = sizes[i % sizes.length]!;
    pieces.push(input.subarray(off, off + n));
    off += n;
  }
  return Readable.from(pieces);
}

const slugMapper: TarMapper = (h) => {
  const rooted = rerootUnderApp(h);
  return rooted && normaliseEntry(rooted, { clampMtime: new Date("2024-05-01T00:00:00Z") });
};
const mappers: Record<string, TarMapper> = {
  identity: (h) => h,
  slug: slugMapper,
  "drop every .py": (h) => (h.name.endsWith(".py") ? undefined : h),
  "rename into a long folder": (h) => ({ ...h, name: `${"deep/".repeat(30)}${h.name}` }),
};

describe("mapTar writes the bytes tar-stream wrote", () => {
  let dir: string;
  const tars: Record<string, Buffer> = {};
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "tar-bytes-"));
    const app = path.join(dir, "app");
    await mkdir(path.join(app, "sub", "x".repeat(120), "y".repeat(150)), { recursive: true });
    await writeFile(path.join(app, "app.py"), "print('hi')\n");
    await writeFile(path.join(app, "empty"), "");
    await writeFile(path.join(app, "block"), Buffer.alloc(1024, 7));
    await writeFile(path.join(app, "odd"), Buffer.alloc(70_001, 3));
    await writeFile(path.join(app, "sub", "x".repeat(120), "y".repeat(150), "deep.txt"), "deep\n");
    await writeFile(path.join(app, "sub", "z".repeat(140)), "long name\n");
    await writeFile(path.join(app, "café-ünïcode.txt"), "utf-8 name\n");
    await writeFile(Buffer.from(path.join(app, "latin1-\xe9.txt"), "latin1"), "not utf-8\n");
    await symlink("/etc/passwd", path.join(app, "to-etc"));
    await symlink(`${"t".repeat(130)}/target`, path.join(app, "long-link"));
    await link(path.join(app, "app.py"), path.join(app, "hard.py"));
    execFileSync("mkfifo", [path.join(app, "fifo")]);
    await mkdir(path.join(app, ".git"), { recursive: true });
    await writeFile(path.join(app, ".git", "HEAD"), "ref: refs/heads/main\n");
    execFileSync("chmod", ["4755", path.join(app, "app.py")]);
    for (const format of ["gnu", "posix", "ustar"]) {
      const args = ["-cf", "-", "--sort=name", `--format=${format}`, "-C", dir, "app"];
      if (format === "ustar") args.splice(3, 0, "--exclude=*.txt", "--exclude=long-link", "--exclude=sub");
      tars[format] = await collect(spawn("tar", args, { stdio: ["ignore", "pipe", "inherit"] }).stdout);
    }
    const pack = tar.pack();
    pack.entry({ name: "app/", type: "directory", mode: 0o755 });
    pack.entry({ name: "app/pax.txt", mode: 0o644, pax: { comment: "kept", uid: "5" } }, "with pax records\n");
    pack.entry({ name: `app/${"ü".repeat(60)}`, mode: 0o600, uname: "someone", gname: "group" }, "utf-8 long\n");
    pack.finalize();
    tars["tar-stream"] = await collect(pack as unknown as Readable);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const format of ["gnu", "posix", "ustar", "tar-stream"]) {
    for (const [name, map] of Object.entries(mappers)) {
      it(`${format} tar, ${name}`, async () => {
        const input = tars[format]!;
        const expected = await reference(input, map);
        expect((await collect(mapTar(Readable.from([input]), map))).equals(expected)).toBe(true);
        for (const sizes of [[1], [7, 511], [512], [513, 100_000], [1023, 3]]) {
          expect((await collect(mapTar(chunked(input, sizes), map))).equals(expected), `chunks of ${sizes.join(",")}`).toBe(true);
        }
      });
    }
  }

  it("refuses a tar that ends inside an entry, a header that does not add up, and a body where none may be", async () => {
    const input = tars.gnu!;
    await expect(collect(mapTar(Readable.from([input.subarray(0, 512 * 5 + 100)]), (h) => h))).rejects.toThrow(/Unexpected end of data/);
    const corrupt = Buffer.from(input);
    corrupt[3] = corrupt[3]! ^ 0xff;
    await expect(collect(mapTar(Readable.from([corrupt]), (h) => h))).rejects.toThrow(/Invalid tar header/);
    await expect(collect(mapTar(Readable.from([input]), (h) => (h.type === "file" && h.size ? { ...h, type: "directory" } : h)))).rejects.toThrow(/No body allowed/);
    await expect(collect(mapTar(Readable.from([input]), (h) => (h.type === "file" && h.size ? { ...h, size: h.size + 1 } : h)))).rejects.toThrow(/Size mismatch/);
  });

  it("a mapper that throws fails the output and stops the input", async () => {
    const input = new PassThrough();
    const out = mapTar(input, () => {
      throw new Error("the mapper broke");
    });
    input.end(tars.gnu);
    await expect(collect(out)).rejects.toThrow("the mapper broke");
    expect(input.destroyed).toBe(true);
  });
});

describe("the slug's quick path for the usual entry writes what the usual path writes", () => {
  let dir: string;
  const tars: Record<string, Buffer> = {};
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "tar-quick-"));
    const app = path.join(dir, "app");
    await mkdir(path.join(app, "sticky"), { recursive: true });
    await mkdir(path.join(app, "sub", ".git"), { recursive: true });
    const files: [string, string, string?][] = [
      ["old.py", "old", "2001-02-03T04:05:06Z"],
      ["new.py", "new"],
      ["zero-mode", "x"],
      ["setuid", "s"],
      ["empty", ""],
      [`${"n".repeat(94)}`, "fits in 100 with ./app/"],
      [`${"m".repeat(95)}`, "one over"],
      [`${"l".repeat(120)}`, "a GNU long name"],
      ["with space .txt", "sp"],
      ["sub/.gitignore", "kept"],
      ["sub/.git/HEAD", "dropped"],
      ["sticky/a", "a"],
      ["odd-size", "y".repeat(70_001)],
    ];
    for (const [name, body, time] of files) {
      await writeFile(path.join(app, name), body);
      if (time) execFileSync("touch", ["-d", time, path.join(app, name)]);
    }
    execFileSync("chmod", ["0", path.join(app, "zero-mode")]);
    execFileSync("chmod", ["6644", path.join(app, "setuid")]);
    execFileSync("chmod", ["1777", path.join(app, "sticky")]);
    execFileSync("touch", ["-d", "1999-12-31T23:59:59Z", path.join(app, "sticky")]);
    await symlink("new.py", path.join(app, "link.py"));
    for (const format of ["gnu", "oldgnu", "posix", "ustar"]) {
      tars[format] = await collect(spawn("tar", ["-cf", "-", "--sort=name", "--owner=4242", "--group=77", `--format=${format}`, "-C", dir, "app"], { stdio: ["ignore", "pipe", "inherit"] }).stdout);
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const slugged = async (input: Readable, clampMtime: Date | undefined, quick: boolean): Promise<{ bytes: Buffer; files: string[] }> => {
    const files: string[] = [];
    const bytes = await collect(slugTar(input, { clampMtime }, (name, size) => files.push(`${name} ${size}`), quick));
    return { bytes, files };
  };

  for (const format of ["gnu", "oldgnu", "posix", "ustar"]) {
    for (const clamp of [undefined, new Date("2024-05-01T00:00:00.750Z"), new Date("2001-02-03T04:05:06Z")]) {
      it(`${format} tar, clamped to ${clamp?.toISOString() ?? "the default"}`, async () => {
        const input = tars[format]!;
        const usual = await slugged(Readable.from([input]), clamp, false);
        expect(usual.files.length).toBeGreaterThan(8);
        for (const sizes of [[input.length], [1], [7, 511], [513, 100_000]]) {
          const quick = await slugged(chunked(input, sizes), clamp, true);
          expect(quick.bytes.equals(usual.bytes), `chunks of ${sizes.join(",")}`).toBe(true);
          expect(quick.files).toEqual(usual.files);
        }
      });
    }
  }

  it("takes GNU tar's files and folders the quick way, and leaves links, long names and zero blocks to the usual one", () => {
    const input = tars.gnu!;
    const kinds = new Map<string, boolean>();
    for (let off = 0; off + 512 <= input.length; ) {
      const block = input.subarray(off, off + 512);
      const plain = readPlainHeader(block);
      const flag = String.fromCharCode(block[156]!);
      const name = block.toString("latin1", 0, 100).replace(/\0.*$/s, "");
      if (name === "") break;
      kinds.set(`${flag} ${name}`, plain !== undefined);
      const size = parseInt(block.toString("latin1", 124, 136), 8) || 0;
      off += 512 + Math.ceil((flag === "5" ? 0 : size) / 512) * 512;
    }
    expect(kinds.get("0 app/new.py")).toBe(true);
    expect(kinds.get("5 app/sticky/")).toBe(true);
    expect(kinds.get("2 app/link.py")).toBe(false);
    expect(kinds.get("L ././@LongLink")).toBe(false);
    expect(readPlainHeader(Buffer.alloc(512))).toBeUndefined();
    const bad = Buffer.from(input.subarray(0, 512));
    bad[0] = bad[0]! ^ 1;
    expect(readPlainHeader(bad)).toBeUndefined();
  });
});
