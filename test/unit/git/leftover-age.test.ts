import { mkdir, mkdtemp, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { sweepAllQuarantines, sweepQuarantine } from "../../../src/git/repos.js";

let dir: string;
const repo = (): string => path.join(dir, "web.git");
const DAY = 24 * 3_600_000;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "sf-leftovers-"));
  await mkdir(path.join(repo(), "objects", "pack"), { recursive: true });
  await mkdir(path.join(repo(), "refs", "heads"), { recursive: true });
  await writeFile(path.join(repo(), "HEAD"), "ref: refs/heads/main\n");
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A leftover made `ageMs` ago. */
async function leftover(rel: string, ageMs: number, folder = false): Promise<string> {
  const p = path.join(repo(), rel);
  if (folder) await mkdir(p, { recursive: true });
  else await writeFile(p, "x");
  const t = new Date(Date.now() - ageMs);
  await utimes(p, t, t);
  return p;
}

it("sweeps every leftover when the node is alone with the repos", async () => {
  const fresh = await leftover("objects/tmp_objdir-incoming-fresh", 1_000, true);
  const lock = await leftover("refs/heads/main.lock", 1_000);
  expect((await sweepAllQuarantines(dir)).sort()).toEqual([fresh, lock].sort());
});

it("where other nodes share the repos, sweeps only leftovers older than the age given: a fresh one may be another node's push", async () => {
  const fresh = await leftover("objects/tmp_objdir-incoming-fresh", 1_000, true);
  const old = await leftover("objects/tmp_objdir-incoming-old", 2 * DAY, true);
  await leftover("refs/heads/main.lock", 1_000);
  const oldLock = await leftover("packed-refs.lock", 2 * DAY);
  expect((await sweepAllQuarantines(dir, DAY)).sort()).toEqual([old, oldLock].sort());
  expect(await sweepQuarantine(repo(), DAY)).toEqual([]);
  expect(await sweepQuarantine(repo())).toEqual([fresh]);
});
