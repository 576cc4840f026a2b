import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { mayNeedGc } from "../../../src/git/repo-maintenance.js";

let gitDir: string;
beforeEach(async () => {
  gitDir = await mkdtemp(path.join(tmpdir(), "gc-check-"));
  await mkdir(path.join(gitDir, "objects", "pack"), { recursive: true });
  await writeFile(path.join(gitDir, "config"), "[core]\n\tbare = true\n");
});
afterEach(async () => {
  await rm(gitDir, { recursive: true, force: true });
});

async function packs(n: number, keep = false): Promise<void> {
  for (let i = 0; i < n; i++) {
    const name = path.join(gitDir, "objects", "pack", `pack-${String(i).padStart(40, "0")}`);
    await writeFile(`${name}.pack`, "");
    await writeFile(`${name}.idx`, "");
    if (keep) await writeFile(`${name}.keep`, "");
  }
}

it("asks git only once there are more packs than gc.autoPackLimit (kept ones counted too)", async () => {
  await packs(3, true);
  expect(await mayNeedGc(gitDir, { "gc.autoPackLimit": "3" })).toBe(false);
  await packs(4);
  expect(await mayNeedGc(gitDir, { "gc.autoPackLimit": "3" })).toBe(true);
  expect(await mayNeedGc(gitDir, {})).toBe(false);
  expect(await mayNeedGc(gitDir, { "gc.autoPackLimit": "0" })).toBe(false);
});

it("asks git once objects/17 holds more loose objects than gc.auto / 256, as git estimates them", async () => {
  await mkdir(path.join(gitDir, "objects", "17"));
  for (let i = 0; i < 27; i++) await writeFile(path.join(gitDir, "objects", "17", i.toString(16).padStart(38, "a")), "");
  await writeFile(path.join(gitDir, "objects", "17", "tmp_obj_x"), "");
  expect(await mayNeedGc(gitDir, {})).toBe(false);
  await writeFile(path.join(gitDir, "objects", "17", "f".repeat(38)), "");
  expect(await mayNeedGc(gitDir, {})).toBe(true);
  expect(await mayNeedGc(gitDir, { "gc.auto": "0" })).toBe(false);
});

it("leaves the decision to git when the repo's config has a gc setting", async () => {
  await writeFile(path.join(gitDir, "config"), "[core]\n\tbare = true\n[gc]\n\tauto = 10\n");
  expect(await mayNeedGc(gitDir, {})).toBe(true);
});
