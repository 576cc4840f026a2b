import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { discardDir, discardDirInBackground, sweepDiscarded } from "../../../src/util/discard-dir.js";

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "sf-discard-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

it("removes a tree and leaves nothing beside it; false when there was none", async () => {
  await mkdir(path.join(root, "app.git", "objects"), { recursive: true });
  await writeFile(path.join(root, "app.git", "objects", "x"), "x");
  await mkdir(path.join(root, "other.git"));
  expect(await discardDir(path.join(root, "app.git"))).toBe(true);
  expect(await readdir(root)).toEqual(["other.git"]);
  expect(await discardDir(path.join(root, "app.git"))).toBe(false);
});

it("sweeps what a stopped removal left, and only that", async () => {
  await mkdir(path.join(root, ".deleted-app.git-0a1b2c", "objects"), { recursive: true });
  await mkdir(path.join(root, "app.git"));
  await mkdir(path.join(root, ".tmp-app-1"));
  expect(await sweepDiscarded(root)).toBe(1);
  expect((await readdir(root)).sort()).toEqual([".tmp-app-1", "app.git"]);
  expect(await sweepDiscarded(path.join(root, "missing"))).toBe(0);
});

it("in the background: the tree is out of the way at once, and gone once the detached rm is done", async () => {
  await mkdir(path.join(root, "rootfs-build-x", "usr", "bin"), { recursive: true });
  await writeFile(path.join(root, "rootfs-build-x", "usr", "bin", "cc"), "x");
  await discardDirInBackground(path.join(root, "rootfs-build-x"));
  const now = await readdir(root);
  expect(now.filter((n) => n === "rootfs-build-x")).toEqual([]);
  const deadline = Date.now() + 10_000;
  while ((await readdir(root)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(await readdir(root)).toEqual([]);
  await discardDirInBackground(path.join(root, "never-there"));
});
