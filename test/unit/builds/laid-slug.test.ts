import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFile, chmod, link, lutimes, mkdir, mkdtemp, open, readFile, rename, rm, stat, symlink, truncate, unlink, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { crc32 } from "node:zlib";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChangesBelow } from "../../../src/builds/changes-below.js";
import { changedBelowTar, changedSinceOptions, laidFolders, layerAppTar, recordLaidSlug, slugFromLaid } from "../../../src/builds/laid-source.js";
import { compareTarOrder, LaidSlugUnusable, ROOM_CHECK_BYTES } from "../../../src/slug/laid-slug.js";
import { createParallelGzip, type GzipMember, type KnownBlock, type MemberLookup, type Piece } from "../../../src/slug/parallel-gzip.js";
import { slugTar } from "../../../src/slug/slug-writer.js";
import { slugCutter } from "../../../src/slug/tar-cutter.js";

/*
 * The slug made from the laid tar and GNU tar's read of what changed since must be the bytes of a
 * whole read, whatever the build did to /app after the laying: each change below is made after a
 * laying, and both slug tars are compared byte for byte (and the files each one tells of).
 */

const CLAMP = new Date("2030-01-01T00:00:00Z");
const OLD = new Date("2021-05-04T03:02:01Z");
let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "laid-slug-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function tarOf(upperDir: string, options: readonly string[] = []): Readable {
  const child = spawn("tar", ["-c", "--sort=name", "--numeric-owner", ...options, "-f", "-", "-C", upperDir, "app"], { stdio: ["ignore", "pipe", "inherit"] });
  return child.stdout;
}

/** A slug tar's pieces: Buffers, and the laid bytes given unread (LazyBytes). */
async function pieces(stream: Readable): Promise<Piece[]> {
  const all: Piece[] = [];
  for await (const c of stream) all.push(c as Piece);
  return all;
}

/** A slug tar's bytes, the laid ones read; how many pieces were given unread. */
async function collect(stream: Readable): Promise<Buffer> {
  return Buffer.concat(await Promise.all((await pieces(stream)).map((p) => (Buffer.isBuffer(p) ? p : p.source.read(p.offset, p.length)))));
}

/** The slug's gzip, as the slug writer makes it (its cutter, `known`, members of an earlier slug offered); the laid bytes it read. */
async function gzipped(input: Piece[], options: { known?: KnownBlock; earlier?: { gz: Buffer; members: GzipMember[] } } = {}): Promise<{ gz: Buffer; members: GzipMember[]; read: number }> {
  let read = 0;
  const counted = input.map((p): Piece => (Buffer.isBuffer(p) ? p : { ...p, source: { headers: p.source.headers, read: async (o, n) => ((read += n), p.source.read(o, n)) } }));
  const { earlier } = options;
  const bySha = new Map(earlier?.members.map((m) => [m.sha256, m]));
  const reuse: MemberLookup | undefined = earlier && (async (sha) => ((m) => m && earlier.gz.subarray(m.offset, m.offset + m.bytes))(bySha.get(sha)));
  const members: GzipMember[] = [];
  const gz = await buffer(Readable.from(counted).pipe(createParallelGzip({ cutter: slugCutter(), known: options.known, reuse, onMember: ({ reused: _, ...m }) => void members.push(m) })));
  return { gz, members, read };
}

/** A laid /app: folders of files, names that sort around `/`, a long name, a link, a symbolic link's target, times in the past. */
async function layApp(upperDir: string): Promise<void> {
  const app = path.join(upperDir, "app");
  const files: [string, string][] = [["README", "read me\n"], ["empty", ""]];
  for (const dir of ["src/a", "src/a-b", "src/a.b", "src/a/deep", "src/b", "lib", "é"]) {
    for (let i = 0; i < 30; i++) files.push([`${dir}/file_${i}.py`, `# ${dir} ${i}\n`.repeat(1 + ((i * 7) % 40))]);
  }
  files.push(["src/a", "x"]); // replaced below by nothing: a file and a folder cannot share a name, so this one is dropped
  files.pop();
  files.push([`long/${"n".repeat(120)}/${"m".repeat(90)}.txt`, "a long name\n"]);
  files.push(["big.bin", "x".repeat(3 * 1024 * 1024 + 17)]);
  for (const [name, text] of files) {
    await mkdir(path.dirname(path.join(app, name)), { recursive: true });
    await writeFile(path.join(app, name), text);
  }
  await symlink("src/b/file_1.py", path.join(app, "link-to-b"));
  await chmod(path.join(app, "src/b/file_2.py"), 0o755);
  // Source times as git gives them: in the past, folders too (deepest first).
  const all = spawnSync("find", [app, "-depth"], { encoding: "utf8" }).stdout.trim().split("\n");
  for (const p of all) await lutimes(p, OLD, OLD);
}

interface Laid {
  upperDir: string;
  app: string;
  laid: Awaited<ReturnType<typeof recordLaidSlug>>;
}

async function laidApp(name: string): Promise<Laid> {
  const upperDir = path.join(root, name, "diff");
  await mkdir(upperDir, { recursive: true });
  await layApp(upperDir);
  const folders = await laidFolders(upperDir);
  const since = Date.now() + 1;
  await sleep(25);
  const laid = await recordLaidSlug(upperDir, since, folders, new AbortController().signal);
  return { upperDir, app: path.join(upperDir, "app"), laid };
}

/** What the slug step reads again of a laid /app (layerAppTar's changed read), failing when the read does. */
function changedTar(l: Laid): Readable {
  return layerAppTar(l.upperDir, l.laid, new AbortController().signal, async (code, stderr) => (code === 0 ? undefined : new Error(`the changed read exited with ${code}: ${stderr}`)));
}

async function bothWays(l: Laid): Promise<{ whole: Buffer; quick: Buffer; quickPieces: Piece[]; wholeFiles: string[]; quickFiles: string[]; known: KnownBlock }> {
  const wholeFiles: string[] = [];
  const quickFiles: string[] = [];
  const whole = await collect(slugTar(tarOf(l.upperDir), { clampMtime: CLAMP }, (n, b) => wholeFiles.push(`${n} ${b}`)));
  const made = slugFromLaid(changedTar(l), l.upperDir, l.laid, CLAMP, (n, b) => quickFiles.push(`${n} ${b}`));
  const quickPieces = await pieces(made.tar);
  const quick = await collect(Readable.from(quickPieces));
  return { whole, quick, quickPieces, wholeFiles: wholeFiles.sort(), quickFiles: quickFiles.sort(), known: made.known };
}

/** Asks `known` about each block of `tar` as a slug's is cut, in order: the blocks it knew, and those it gave a wrong sha256 or CRC-32 for. */
function askKnown(tar: Buffer, known: KnownBlock): { blocks: number; knew: number; wrong: string[] } {
  const ends = [...slugCutter().feed(tar), tar.length];
  let start = 0;
  let knew = 0;
  const wrong: string[] = [];
  for (const end of ends) {
    if (end <= start) continue;
    const block = tar.subarray(start, end);
    const k = known(start, end);
    if (k) knew++;
    if (k && (k.sha256 !== createHash("sha256").update(block).digest("hex") || k.crc !== crc32(block))) wrong.push(`${start}-${end}`);
    start = end;
  }
  return { blocks: ends.length, knew, wrong };
}

const changes: [string, (app: string) => Promise<void>][] = [
  ["nothing", async () => undefined],
  ["a file appended to", (app) => appendFile(path.join(app, "src/a/file_3.py"), "more\n")],
  [
    "a file written in place, same size, its mtime set back",
    async (app) => {
      const f = path.join(app, "src/a.b/file_4.py");
      const h = await open(f, "r+");
      await h.write("X", 0);
      await h.close();
      await utimes(f, OLD, OLD);
    },
  ],
  [
    "a file written through mmap",
    async (app) => {
      const f = path.join(app, "src/a-b/file_5.py");
      const py = "import mmap,sys\nwith open(sys.argv[1],'r+b') as f:\n m=mmap.mmap(f.fileno(),0)\n m[0:1]=b'Z'\n m.flush()\n m.close()\n";
      const r = spawnSync("python3", ["-c", py, f]);
      if (r.status !== 0) await writeFile(f, "Z" + (await readFile(f, "utf8")).slice(1));
      await utimes(f, OLD, OLD);
    },
  ],
  ["a file's mode", (app) => chmod(path.join(app, "lib/file_6.py"), 0o700)],
  ["a file removed", (app) => unlink(path.join(app, "src/b/file_7.py"))],
  [
    "a file removed, its folder's mtime set back",
    async (app) => {
      await unlink(path.join(app, "src/b/file_8.py"));
      await utimes(path.join(app, "src/b"), OLD, OLD);
    },
  ],
  ["a folder removed", (app) => rm(path.join(app, "src/a-b"), { recursive: true })],
  ["a folder with folders in it removed", (app) => rm(path.join(app, "src/a"), { recursive: true })],
  ["a new file in a folder", (app) => writeFile(path.join(app, "src/a.b/new.py"), "new\n")],
  [
    "a new folder",
    async (app) => {
      await mkdir(path.join(app, "src/a0"));
      await writeFile(path.join(app, "src/a0/x.py"), "x\n");
    },
  ],
  ["a file renamed", (app) => rename(path.join(app, "lib/file_1.py"), path.join(app, "lib/file_1b.py"))],
  ["a file moved to another folder", (app) => rename(path.join(app, "lib/file_2.py"), path.join(app, "src/b/file_2b.py"))],
  [
    "a file replaced by a folder",
    async (app) => {
      await unlink(path.join(app, "src/b/file_9.py"));
      await mkdir(path.join(app, "src/b/file_9.py"));
      await writeFile(path.join(app, "src/b/file_9.py/in.py"), "in\n");
    },
  ],
  [
    "a folder replaced by a file",
    async (app) => {
      await rm(path.join(app, "src/a/deep"), { recursive: true });
      await writeFile(path.join(app, "src/a/deep"), "not a folder\n");
    },
  ],
  [
    "a folder removed and made again with one of its files",
    async (app) => {
      await rm(path.join(app, "lib"), { recursive: true });
      await mkdir(path.join(app, "lib"));
      await writeFile(path.join(app, "lib/file_0.py"), (await readFile(path.join(app, "src/b/file_0.py"))).toString());
    },
  ],
  [
    "a symbolic link pointed elsewhere",
    async (app) => {
      await unlink(path.join(app, "link-to-b"));
      await symlink("src/b/file_3.py", path.join(app, "link-to-b"));
    },
  ],
  ["a hard link to a laid file", (app) => link(path.join(app, "src/b/file_4.py"), path.join(app, "src/b/file_4-again.py"))],
  ["the large file changed", (app) => appendFile(path.join(app, "big.bin"), "y")],
  ["a file given a time after the clamp", (app) => utimes(path.join(app, "README"), new Date("2035-01-01"), new Date("2035-01-01"))],
  [
    "many changes at once",
    async (app) => {
      await appendFile(path.join(app, "é/file_0.py"), "é\n");
      await unlink(path.join(app, "é/file_1.py"));
      await writeFile(path.join(app, "é/file_1.py.new"), "n\n");
      await rm(path.join(app, "long"), { recursive: true });
      await writeFile(path.join(app, "zz.py"), "last\n");
      await writeFile(path.join(app, "0first.py"), "first\n");
    },
  ],
];

describe("a slug from the laid tar and what changed since", () => {
  it.each(changes)("is the whole read's bytes after: %s", async (what, change) => {
    const l = await laidApp(what.replace(/\W+/g, "-"));
    const before = await stat(l.laid.file);
    expect(before.size).toBe(l.laid.bytes);
    await change(l.app);
    // The changed read stores what GNU tar's one walk with --newer stores, byte for byte.
    expect((await collect(changedTar(l))).equals(await collect(tarOf(l.upperDir, changedSinceOptions(l.laid))))).toBe(true);
    const { whole, quick, quickPieces, wholeFiles, quickFiles, known } = await bothWays(l);
    expect(quick.length).toBe(whole.length);
    expect(quick.equals(whole)).toBe(true);
    expect(quickFiles).toEqual(wholeFiles);
    // What it says it knows of the slug's blocks (their hashes, recorded with the laid tar) is so.
    const asked = askKnown(quick, known);
    expect(asked.wrong).toEqual([]);
    if (what === "nothing") expect(asked.knew).toBe(asked.blocks);
    else expect(asked.knew).toBeGreaterThan(0);
    // Gzipped as the slug writer does, with the laid bytes given unread: the whole read's gzip, byte
    // for byte; with the whole read's members to copy, what is known is not read (nothing at all
    // when nothing changed).
    expect(quickPieces.some((p) => !Buffer.isBuffer(p))).toBe(true);
    const wholeGz = await gzipped([whole]);
    const alone = await gzipped(quickPieces);
    expect(alone.gz.equals(wholeGz.gz)).toBe(true);
    const copying = await gzipped(quickPieces, { known, earlier: wholeGz });
    expect(copying.gz.equals(wholeGz.gz)).toBe(true);
    expect(copying.read).toBeLessThan(alone.read);
    if (what === "nothing") expect(copying.read).toBe(0);
  });

  const moves: [string, (app: string) => Promise<void>][] = [
    ["a folder renamed", (app) => rename(path.join(app, "src/a.b"), path.join(app, "src/c"))],
    ["a folder moved into another", (app) => rename(path.join(app, "src/a/deep"), path.join(app, "lib/deep"))],
    ["a folder's parent renamed", (app) => rename(path.join(app, "src"), path.join(app, "source"))],
    [
      "two folders swapped",
      async (app) => {
        await rename(path.join(app, "src/a.b"), path.join(app, "src/tmp"));
        await rename(path.join(app, "src/b"), path.join(app, "src/a.b"));
        await rename(path.join(app, "src/tmp"), path.join(app, "src/b"));
      },
    ],
  ];
  it.each(moves)("is refused (the slug is read whole) after: %s", async (what, change) => {
    const l = await laidApp(what.replace(/\W+/g, "-"));
    await change(l.app);
    await expect(bothWays(l)).rejects.toThrow(LaidSlugUnusable);
  });

  it("takes an unchanged file from the laid tar, not from /app", async () => {
    const l = await laidApp("taken-from-laid");
    const entry = l.laid.entries.find((e) => e.name === "./app/lib/file_0.py")!;
    // A mark in the laid tar, in the file's body (after its one header block): the quick slug has it, the whole read not.
    const h = await open(l.laid.file, "r+");
    await h.write("Q", entry.start + 512);
    await h.close();
    const { whole, quick } = await bothWays(l);
    expect(quick.length).toBe(whole.length);
    const differ = [...quick.keys()].filter((i) => quick[i] !== whole[i]);
    expect(differ).toHaveLength(1);
    expect(String.fromCharCode(quick[differ[0]!]!)).toBe("Q");
  });
});

/*
 * Laid beneath an overlay's upper layer (the engine's init layer, as the build service lays it):
 * what changed is listed from the upper layer (ChangesBelow) and read in the mounted root. A real
 * overlayfs mount, as the engine makes one (the kernel's redirect_dir off, as the runtime checks).
 */
interface LaidBelow {
  dir: string;
  upper: string;
  merged: string;
  app: string;
  laid: Awaited<ReturnType<typeof recordLaidSlug>>;
}

async function laidBelow(name: string): Promise<LaidBelow> {
  const dir = path.join(root, "below", name);
  const [lower, upper, work, merged] = ["init", "diff", "work", "merged"].map((d) => path.join(dir, d)) as [string, string, string, string];
  for (const d of [lower, upper, work, merged]) await mkdir(d, { recursive: true });
  await layApp(lower);
  const folders = await laidFolders(lower);
  const laid = await recordLaidSlug(lower, Date.now() + 1, folders, new AbortController().signal);
  const mounted = spawnSync("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged], { encoding: "utf8" });
  if (mounted.status !== 0) throw new Error(`mounting an overlay failed (this test needs root, as the build service's layer mode does): ${mounted.stderr}`);
  return { dir, upper, merged, app: path.join(merged, "app"), laid };
}

function unmount(l: LaidBelow): void {
  spawnSync("umount", [l.merged]);
}

async function bothWaysBelow(l: LaidBelow): Promise<{ whole: Buffer; quick: Buffer; wholeFiles: string[]; quickFiles: string[]; names: string[] }> {
  const wholeFiles: string[] = [];
  const quickFiles: string[] = [];
  const whole = await collect(slugTar(tarOf(l.merged), { clampMtime: CLAMP }, (n, b) => wholeFiles.push(`${n} ${b}`)));
  const below = await ChangesBelow.read(l.upper, l.merged);
  const names = await below.names(l.laid);
  const changed = changedBelowTar(l.merged, names, new AbortController().signal, async (code, stderr) => (code === 0 ? undefined : new Error(`the changed read exited with ${code}: ${stderr}`)));
  const quick = await collect(slugFromLaid(changed, l.upper, l.laid, CLAMP, (n, b) => quickFiles.push(`${n} ${b}`), below).tar);
  return { whole, quick, wholeFiles: wholeFiles.sort(), quickFiles: quickFiles.sort(), names };
}

describe("a slug from a laid tar laid beneath the upper layer", () => {
  const moves: [string, (app: string) => Promise<void>][] = [
    ["a folder renamed", async (app) => void spawnSync("mv", [path.join(app, "src/a.b"), path.join(app, "src/c")])],
    ["a folder's parent renamed", async (app) => void spawnSync("mv", [path.join(app, "src"), path.join(app, "source")])],
    [
      "two folders swapped",
      async (app) => {
        spawnSync("mv", [path.join(app, "src/a.b"), path.join(app, "src/tmp")]);
        spawnSync("mv", [path.join(app, "src/b"), path.join(app, "src/a.b")]);
        spawnSync("mv", [path.join(app, "src/tmp"), path.join(app, "src/b")]);
      },
    ],
  ];
  it.each([...changes, ...moves])("is the whole read's bytes after: %s", async (what, change) => {
    const l = await laidBelow(what.replace(/\W+/g, "-"));
    try {
      await change(l.app);
      const { whole, quick, wholeFiles, quickFiles, names } = await bothWaysBelow(l);
      expect(quick.length).toBe(whole.length);
      expect(quick.equals(whole)).toBe(true);
      expect(quickFiles).toEqual(wholeFiles);
      // Folders and what changed only, not every file (a folder moved is copied whole: all of it changed).
      if (!moves.some(([m]) => m === what)) expect(names.length).toBeLessThan(l.laid.entries.length / 4);
    } finally {
      unmount(l);
    }
  });

  it("cannot have a laid folder renamed (EXDEV: programs copy it, as mv did above)", async () => {
    const l = await laidBelow("rename-refused");
    try {
      await expect(rename(path.join(l.app, "src/a.b"), path.join(l.app, "src/c"))).rejects.toThrow(/EXDEV/);
    } finally {
      unmount(l);
    }
  });

  it("lists nothing but the folders when nothing changed, and refuses a name that is not UTF-8, or more changes than it keeps (the slug is then read whole)", async () => {
    const l = await laidBelow("not-utf8");
    try {
      expect((await bothWaysBelow(l)).names).toEqual([...l.laid.folders.keys()].map((f) => f.slice(2, -1)).sort(compareTarOrder));
      await writeFile(Buffer.concat([Buffer.from(path.join(l.app, "lib")), Buffer.from([0x2f, 0x6c, 0xe9, 0x2e, 0x70, 0x79])]), "x\n");
      await expect(ChangesBelow.read(l.upper, l.merged)).rejects.toThrow(LaidSlugUnusable);
      await rm(Buffer.concat([Buffer.from(path.join(l.app, "lib")), Buffer.from([0x2f, 0x6c, 0xe9, 0x2e, 0x70, 0x79])]));
      // Past as many changes as it keeps in memory: refused too.
      for (let i = 0; i < 5; i++) await writeFile(path.join(l.app, "src/b", `more_${i}.py`), "m\n");
      expect((await ChangesBelow.read(l.upper, l.merged, 12)).size).toBeLessThanOrEqual(12);
      await expect(ChangesBelow.read(l.upper, l.merged, 6)).rejects.toThrow(/the build changed more than 6 entries of \/app/);
    } finally {
      unmount(l);
    }
  });
});

describe("the read of what changed since the laying", () => {
  it("stores what GNU tar's --newer walk stores, whatever the names' bytes (a newline, a backslash, not UTF-8, around `/`) and with hard links", async () => {
    const l = await laidApp("odd-names");
    const dir = Buffer.from(path.join(l.app, "src/a"));
    const odd = [Buffer.from("new\nline.py"), Buffer.from("back\\slash.py"), Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0xe9, 0x2e, 0x70, 0x79]), Buffer.from("a-"), Buffer.from("a.b"), Buffer.from("é.py"), Buffer.from("tab\there.py")];
    for (const name of odd) await writeFile(Buffer.concat([dir, Buffer.from("/"), name]), "x\n");
    await mkdir(path.join(l.app, "src/a/deep/a"), { recursive: true });
    await writeFile(path.join(l.app, "src/a/deep/a/b.py"), "y\n");
    await appendFile(path.join(l.app, "src/b/file_3.py"), "more\n");
    // Hard links: two new names for a new file, and one for a laid file (its ctime changes with it).
    await link(path.join(l.app, "src/a/deep/a/b.py"), path.join(l.app, "src/a/deep/hard.py"));
    await link(path.join(l.app, "lib/file_1.py"), path.join(l.app, "src/b/hard-to-laid.py"));
    const listed = await collect(changedTar(l));
    expect(listed.equals(await collect(tarOf(l.upperDir, changedSinceOptions(l.laid))))).toBe(true);
    for (const name of odd) expect(listed.includes(name)).toBe(true);
    // Every folder and what changed only: far less than the whole read.
    expect(listed.length).toBeLessThan((await collect(tarOf(l.upperDir))).length / 4);
  });

  it("runs no ~/.bashrc (bash takes a socket for its stdin, without SHLVL, for sshd's)", async () => {
    const l = await laidApp("no-bashrc");
    const home = path.join(root, "home");
    await mkdir(home, { recursive: true });
    const marker = path.join(home, "ran");
    await writeFile(path.join(home, ".bashrc"), `touch ${marker}\n`);
    await writeFile(path.join(home, ".bash_profile"), `touch ${marker}\n`);
    const saved = { HOME: process.env.HOME, SHLVL: process.env.SHLVL };
    process.env.HOME = home;
    delete process.env.SHLVL;
    try {
      expect((await collect(changedTar(l))).length).toBeGreaterThan(0);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    await expect(stat(marker)).rejects.toThrow(/ENOENT/);
  });

  it("fails when /app cannot be walked, and leaves no tar running", async () => {
    const l = await laidApp("no-app");
    await rm(l.app, { recursive: true });
    await expect(collect(changedTar(l))).rejects.toThrow(/the changed read exited with 2: [\s\S]*No such file/);
    expect(spawnSync("pgrep", ["-f", `${l.upperDir} app`]).status).toBe(1);
  });

  it("stops both tars when its reader goes", async () => {
    const l = await laidApp("reader-gone");
    const stream = changedTar(l);
    stream.once("data", () => stream.destroy());
    await new Promise((resolve) => stream.once("close", resolve));
    await sleep(300);
    expect(spawnSync("pgrep", ["-f", l.upperDir]).status).toBe(1);
  });
});

describe("a laid tar that is not what was written", () => {
  it("fails the stream with an error that says so (the slug step then reads /app whole)", async () => {
    const l = await laidApp("cut-short");
    await truncate(l.laid.file, 4096);
    await expect(bothWays(l)).rejects.toThrow(/holds 4096 bytes, not the \d+ written/);
  });

  it("fails the gzip when it is cut short after the merge, before its bytes are read", async () => {
    const l = await laidApp("cut-later");
    await appendFile(path.join(l.app, "src/a/file_3.py"), "more\n");
    const made = slugFromLaid(changedTar(l), l.upperDir, l.laid, CLAMP, () => undefined);
    const given = await pieces(made.tar);
    await truncate(l.laid.file, 4096);
    await expect(gzipped(given)).rejects.toThrow(/holds 4096 bytes, not the \d+ written/);
  });
});

describe("reading the laid /app", () => {
  it("stops when told to (a build took the container), with an error and no child left", async () => {
    const upperDir = path.join(root, "stopped", "diff");
    await mkdir(upperDir, { recursive: true });
    await layApp(upperDir);
    const folders = await laidFolders(upperDir);
    for (const wait of [0, 2, 10]) {
      const stop = new AbortController();
      const reading = recordLaidSlug(upperDir, Date.now() + 1, folders, stop.signal);
      setTimeout(() => stop.abort(new Error("taken")), wait);
      const result = await reading.then(
        () => "read",
        (err: unknown) => (err instanceof Error ? "stopped" : "?"),
      );
      // Whichever came first; either way nothing is left running.
      expect(["read", "stopped"]).toContain(result);
    }
    expect(spawnSync("pgrep", ["-f", `${upperDir} app`]).status).toBe(1);
  });

  it("keeps no laid tar on a disk under its reserve: none begun, or one stopped part-way and removed", async () => {
    const upperDir = path.join(root, "full", "diff");
    await mkdir(path.join(upperDir, "app"), { recursive: true });
    // Past ROOM_CHECK_BYTES, so that the disk is asked again part-way.
    await writeFile(path.join(upperDir, "app", "big.bin"), Buffer.alloc(ROOM_CHECK_BYTES + 1024 * 1024, 7));
    const folders = await laidFolders(upperDir);
    const file = path.join(root, "full", "slugforge-laid-app.tar");
    const asked: number[] = [];
    const full = { minFreeBytes: 1024 * 1024, freeBytes: async () => (asked.push(0), 1000) };
    await expect(recordLaidSlug(upperDir, Date.now() + 1, folders, new AbortController().signal, full)).rejects.toThrow(
      /1000 B free on the disk of the engine's layers, under the reserve of 1(\.0)? MB \(SLUGFORGE_MIN_FREE_BYTES\): the laid \/app's slug tar is not kept \(0 B of it written\)/,
    );
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    const filling = { minFreeBytes: 1024 * 1024, freeBytes: async () => (asked.push(1), asked.length > 1 ? 1000 : Number.MAX_SAFE_INTEGER) };
    asked.length = 0;
    await expect(recordLaidSlug(upperDir, Date.now() + 1, folders, new AbortController().signal, filling)).rejects.toThrow(/under the reserve .*\(1[67](\.\d)? MB of it written\)/);
    expect(asked.length).toBe(2);
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    expect(spawnSync("pgrep", ["-f", `${upperDir} app`]).status).toBe(1);
    // With room, the same folder is kept.
    const laid = await recordLaidSlug(upperDir, Date.now() + 1, folders, new AbortController().signal, { minFreeBytes: 1024 * 1024, freeBytes: async () => Number.MAX_SAFE_INTEGER });
    expect((await stat(file)).size).toBe(laid.bytes);
  });
});

describe("compareTarOrder", () => {
  it("orders names as GNU tar's --sort=name walks them", () => {
    const names = ["./app/a", "./app/a/b", "./app/a-b", "./app/a.b", "./app/a b", "./app/A", "./app/é", "./app/z", "./app/a/b/c", "./app/ab"];
    const sorted = [...names].sort(compareTarOrder);
    expect(sorted).toEqual(["./app/A", "./app/a", "./app/a/b", "./app/a/b/c", "./app/a b", "./app/a-b", "./app/a.b", "./app/ab", "./app/z", "./app/é"]);
  });
});
