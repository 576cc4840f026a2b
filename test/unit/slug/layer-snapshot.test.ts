import { spawn } from "node:child_process";
import { appendFile, chmod, link, mkdir, mkdtemp, rename, rm, symlink, truncate, unlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { layerTarArgs, readChangedSince, SNAPSHOT_FILE, takeLayerSnapshot, tarOrder, type LayerSnapshot } from "../../../src/slug/layer-snapshot.js";
import { gunzipSync } from "node:zlib";
import { compressSlug, type SlugSplice } from "../../../src/slug/slug-writer.js";

let upper: string;
let app: string;

beforeEach(async () => {
  upper = await mkdtemp(path.join(tmpdir(), "snapshot-"));
  app = path.join(upper, "app");
  await mkdir(app);
});
afterEach(async () => {
  await rm(upper, { recursive: true, force: true });
});

function gnuTar(args: readonly string[]): Readable {
  const child = spawn("tar", [...args], { stdio: ["ignore", "pipe", "inherit"] });
  const out = new PassThrough();
  child.stdout.pipe(out);
  return out;
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

/** The archive's entries: everything before the end-of-archive blocks. */
function entriesOf(tar: Buffer): Buffer {
  let end = tar.length;
  while (end >= 512 && tar.subarray(end - 512, end).every((b) => b === 0)) end -= 512;
  return tar.subarray(0, end);
}

/** A clamp later than every mtime here: the slug keeps them. */
const CLAMP = new Date(Date.now() + 86_400_000);

async function slugOf(tar: Readable, splice?: SlugSplice): Promise<Buffer> {
  return bytesOf(compressSlug(tar, 1e9, { clampMtime: CLAMP }, undefined, splice).stream);
}

/** The slug of GNU tar's whole read of /app. */
async function wholeSlug(): Promise<Buffer> {
  return slugOf(gnuTar(layerTarArgs(upper, "app")));
}

/** The slug of what changed since `snapshot`, with the snapshot's entries put among it. */
async function changedSlug(snapshot: LayerSnapshot): Promise<Buffer> {
  const changed = await readChangedSince(upper, "app", snapshot, gnuTar, CLAMP.getTime());
  if (!changed) throw new Error("no incremental read");
  return slugOf(changed.tar, changed.splice);
}

async function tree(files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(app, name)), { recursive: true });
    await writeFile(path.join(app, name), content);
  }
}

async function snapshot(): Promise<LayerSnapshot> {
  const s = await takeLayerSnapshot(upper, "app", new AbortController().signal);
  if (!s) throw new Error("no snapshot");
  return s;
}

describe("reading /app again from a snapshot and what changed since", () => {
  it("gives the whole read's bytes after every kind of change, and the same slug", async () => {
    const long = `${"d".repeat(90)}/${"f".repeat(120)}.py`;
    await tree({
      "a/x.py": "x\n",
      "a-b": "dash\n",
      "a.b": "dot\n",
      "a/b/y.py": "y\n",
      "a/b/z.py": "z\n",
      "c/gone.py": "gone\n",
      "c/keep.py": "keep\n",
      "d/sub/deep.py": "deep\n",
      "e/renamed.py": "r\n",
      "f/mode.sh": "#!/bin/sh\n",
      "g/old.py": "old\n",
      "h/file-then-dir": "f\n",
      "i/dir-then-file/inner.py": "i\n",
      "j/target.py": "t\n",
      "k/same-size.py": "aaaa\n",
      [long]: "long\n",
      [`${"e".repeat(90)}/${"g".repeat(120)}.py`]: "long, changed\n",
      "empty": "",
      "big.bin": "B".repeat(3 * 1024 * 1024),
    });
    await symlink("x.py", path.join(app, "a/link"));
    // A name that is not UTF-8, and one with a newline.
    await writeFile(Buffer.concat([Buffer.from(`${app}/`), Buffer.from([0x63, 0x61, 0x66, 0xe9]), Buffer.from(".py")]), "latin1 name\n");
    await writeFile(Buffer.concat([Buffer.from(`${app}/`), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d])]), "next to it\n");
    await writeFile(path.join(app, "line\nbreak.py"), "newline\n");
    const before = await snapshot();
    expect(before.entries.length).toBeGreaterThan(20);

    await appendFile(path.join(app, "a/b/y.py"), "more\n");
    await unlink(path.join(app, "c/gone.py"));
    await rm(path.join(app, "d"), { recursive: true });
    await rename(path.join(app, "e/renamed.py"), path.join(app, "e/now-here.py"));
    await chmod(path.join(app, "f/mode.sh"), 0o755);
    await writeFile(path.join(app, "g/old.py"), "new!\n");
    await utimes(path.join(app, "g/old.py"), new Date("2001-01-01"), new Date("2001-01-01"));
    await unlink(path.join(app, "h/file-then-dir"));
    await mkdir(path.join(app, "h/file-then-dir"));
    await writeFile(path.join(app, "h/file-then-dir/now.py"), "now\n");
    await rm(path.join(app, "i/dir-then-file"), { recursive: true });
    await writeFile(path.join(app, "i/dir-then-file"), "file now\n");
    await link(path.join(app, "j/target.py"), path.join(app, "j/hard.py"));
    await writeFile(path.join(app, "k/same-size.py"), "bbbb\n");
    await appendFile(path.join(app, `${"e".repeat(90)}/${"g".repeat(120)}.py`), "!\n");
    await unlink(path.join(app, "a/link"));
    await symlink("b/y.py", path.join(app, "a/link"));
    await tree({ "new/deeper/n.py": "n\n", "a/b/zz.py": "zz\n" });
    await truncate(path.join(app, "big.bin"), 1024 * 1024);
    await appendFile(Buffer.concat([Buffer.from(`${app}/`), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2d])]), "changed\n");

    const whole = await wholeSlug();
    const changed = await changedSlug(before);
    expect(entriesOf(gunzipSync(changed)).equals(entriesOf(gunzipSync(whole)))).toBe(true);
    expect(changed.equals(whole)).toBe(true);
  });

  it("copies what nobody touched from the snapshot: GNU tar reads only folders and what changed", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`m${i % 10}/f${i}.py`] = `content ${i}\n`.repeat(20);
    await tree(files);
    const before = await snapshot();
    await appendFile(path.join(app, "m3/f3.py"), "changed\n");
    const changedOnly = entriesOf(await bytesOf(gnuTar(layerTarArgs(upper, "app", before.since))));
    // app/, m0/ … m9/ and the one file (a header and one block of body).
    expect(changedOnly.length).toBe(11 * 512 + 512 + Math.ceil(((`content 3\n`.repeat(20).length + 8) / 512)) * 512);
    expect((await changedSlug(before)).equals(await wholeSlug())).toBe(true);
  });

  it("reads again a file changed while or after the snapshot was taken, whatever its mtime says", async () => {
    await tree({ "a.py": "one\n", "b.py": "two\n" });
    const taking = takeLayerSnapshot(upper, "app", new AbortController().signal);
    // Changed during the settle before the read: in the snapshot already, and read again anyway.
    await writeFile(path.join(app, "a.py"), "ONE\n");
    const before = await taking;
    if (!before) throw new Error("no snapshot");
    await writeFile(path.join(app, "b.py"), "TWO\n");
    await utimes(path.join(app, "b.py"), new Date("2000-01-01"), new Date("2000-01-01"));
    const changed = await changedSlug(before);
    expect(gunzipSync(changed).toString("latin1")).toContain("ONE\n");
    expect(gunzipSync(changed).toString("latin1")).toContain("TWO\n");
    expect(changed.equals(await wholeSlug())).toBe(true);
  });

  it("keeps the snapshot beside /app in the layer, root's alone, and none when tar fails", async () => {
    await tree({ "a.py": "a\n" });
    const s = await snapshot();
    expect(s.file).toBe(path.join(upper, SNAPSHOT_FILE));
    const { statSync } = await import("node:fs");
    expect(statSync(s.file).mode & 0o777).toBe(0o600);
    expect(await takeLayerSnapshot(upper, "no-such-dir", new AbortController().signal)).toBeUndefined();
  });

  it("is not used once the clock has gone back before the snapshot, nor for a slug clamped before its entries' times", async () => {
    await tree({ "a.py": "a\n" });
    const s = await snapshot();
    expect(await readChangedSince(upper, "app", { ...s, since: Date.now() + 60_000 }, gnuTar, CLAMP.getTime())).toBeUndefined();
    // An entry as new as the slug's clamp: the slug writer clamps it, so the snapshot's copy is not used.
    expect(await readChangedSince(upper, "app", s, gnuTar, s.maxMtime)).toBeUndefined();
  });

  it("is not used when its file is not whole, and a tar that fails part-way fails the slug rather than shortening it", async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 50; i++) files[`d${i % 5}/f${i}.py`] = "x".repeat(3000);
    await tree(files);
    const s = await snapshot();
    await appendFile(path.join(app, "d1/f1.py"), "changed\n");
    await truncate(s.file, s.bytes - 512);
    expect(await readChangedSince(upper, "app", s, gnuTar, CLAMP.getTime())).toBeUndefined();
    await rm(s.file);
    const whole = await snapshot();
    // GNU tar's output cut after 2 KiB, then an error: the slug fails with it.
    const cut = (args: string[]): Readable => {
      const out = new PassThrough();
      let sent = 0;
      gnuTar(args).on("data", (b: Buffer) => {
        if (sent >= 2048) return;
        out.write(b.subarray(0, 2048 - sent));
        sent += Math.min(b.length, 2048 - sent);
        if (sent >= 2048) out.destroy(new Error("tar went away"));
      });
      return out;
    };
    const changed = await readChangedSince(upper, "app", whole, cut, CLAMP.getTime());
    if (!changed) throw new Error("no incremental read");
    await expect(slugOf(changed.tar, changed.splice)).rejects.toThrow(/tar went away/);
  });

  it("orders names as GNU tar's --sort=name does: a folder's entries right after it, bytes compared", () => {
    const names = ["app/a.b", "app/a", "app/a-b", "app/a/z", "app/a/b/c", "app/B", "app/\xe9", "app/a/b", "app"];
    expect([...names].sort(tarOrder)).toEqual(["app", "app/B", "app/a", "app/a/b", "app/a/b/c", "app/a/z", "app/a-b", "app/a.b", "app/\xe9"]);
  });
});
