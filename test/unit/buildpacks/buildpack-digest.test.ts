import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildpackDigest } from "../../../src/buildpacks/buildpack-digest.js";

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "bp-digest-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A folder with files in sub-folders, a link, an empty folder, a top-level .git and a nested one. */
async function sample(root: string): Promise<void> {
  await mkdir(path.join(root, "bin"), { recursive: true });
  await mkdir(path.join(root, "lib", "deeper"), { recursive: true });
  await mkdir(path.join(root, "empty"));
  await mkdir(path.join(root, ".git"));
  await mkdir(path.join(root, "lib", ".git"));
  await writeFile(path.join(root, "bin", "compile"), "#!/bin/sh\necho compile\n");
  await chmod(path.join(root, "bin", "compile"), 0o755);
  await writeFile(path.join(root, "bin", "detect"), "#!/bin/sh\necho Sample\n");
  await chmod(path.join(root, "bin", "detect"), 0o700);
  await writeFile(path.join(root, "lib", "b.sh"), "b\n");
  await chmod(path.join(root, "lib", "b.sh"), 0o644);
  await writeFile(path.join(root, "lib", "deeper", "c"), Buffer.alloc(300_000, 7));
  await chmod(path.join(root, "lib", "deeper", "c"), 0o644);
  await writeFile(path.join(root, "lib", ".git", "kept"), "a nested .git is content\n");
  await chmod(path.join(root, "lib", ".git", "kept"), 0o644);
  await writeFile(path.join(root, ".git", "HEAD"), "left out\n");
  await symlink("../bin/compile", path.join(root, "lib", "link"));
  for (let i = 0; i < 20; i++) {
    await writeFile(path.join(root, "lib", `f${String(i).padStart(2, "0")}`), `file ${i}\n`);
    await chmod(path.join(root, "lib", `f${String(i).padStart(2, "0")}`), 0o644);
  }
}

describe("buildpackDigest", () => {
  it("is the digest earlier versions gave the same folder (build input keys stay valid)", async () => {
    await sample(dir);
    // Computed by the one-read-at-a-time version this replaced.
    expect(await buildpackDigest(dir)).toBe("6d1192a9d674d49facfe56eede27f07437a0f3273226612166c0e1d0cd298966");
  });

  it("is the same read in one go or asynchronously (a folder over either limit)", async () => {
    await sample(dir);
    const known = "6d1192a9d674d49facfe56eede27f07437a0f3273226612166c0e1d0cd298966";
    expect(await buildpackDigest(dir, { entries: 5, bytes: 1 << 30 })).toBe(known);
    expect(await buildpackDigest(dir, { entries: 1000, bytes: 1000 })).toBe(known);
  });

  it("changes with a file's bytes, its mode, a link's target, and ignores the top-level .git", async () => {
    await sample(dir);
    const before = await buildpackDigest(dir);
    await writeFile(path.join(dir, ".git", "HEAD"), "changed\n");
    expect(await buildpackDigest(dir)).toBe(before);
    await chmod(path.join(dir, "lib", "b.sh"), 0o755);
    const moded = await buildpackDigest(dir);
    expect(moded).not.toBe(before);
    await writeFile(path.join(dir, "lib", "f07"), "file 7!\n");
    const changed = await buildpackDigest(dir);
    expect(changed).not.toBe(moded);
    await rm(path.join(dir, "lib", "link"));
    await symlink("../bin/detect", path.join(dir, "lib", "link"));
    expect(await buildpackDigest(dir)).not.toBe(changed);
  });

  it("fails when the folder is not there", async () => {
    await expect(buildpackDigest(path.join(dir, "missing"))).rejects.toThrow(/ENOENT/);
  });
});
