import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anchorOf, forgetSourceTimes, sourceTimes, stamped, timeOf, type WalkLimits } from "../../../src/builds/source-times.js";

/*
 * A source's times against the rule worked out the slow way: for each path of a commit, walk its
 * first parents and take the committer time of the first commit whose tree has the path otherwise
 * than its first parent's (the root commit: all of it), or the anchor's when the walk gets there
 * first; a folder, the latest beneath it.
 */

let dir: string;
let gitDir: string;
let work: string;

function git(args: string[], env: Record<string, string> = {}): string {
  return execFileSync("git", args, {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    env: { PATH: process.env.PATH, HOME: os.tmpdir(), GIT_DIR: gitDir, GIT_WORK_TREE: work, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com", ...env },
  });
}

let at = 1_600_000_000;
function commit(message: string, seconds = (at += 60)): string {
  const date = `@${seconds} +0000`;
  git(["add", "-A"]);
  git(["commit", "--quiet", "--allow-empty", "-m", message], { GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date });
  return git(["rev-parse", "HEAD"]).trim();
}

const trees = new Map<string, Map<string, string>>();
const committed = new Map<string, number>();

function entries(c: string): Map<string, string> {
  const known = trees.get(c);
  if (known) return known;
  const out = new Map<string, string>();
  trees.set(c, out);
  for (const line of git(["ls-tree", "-r", "-z", "--full-tree", c]).split("\0")) {
    if (line === "") continue;
    const tab = line.indexOf("\t");
    out.set(line.slice(tab + 1), line.slice(0, tab));
  }
  return out;
}

/** The rule, the slow way. */
function expected(c: string, period = 5000): Record<string, number> {
  const chain = git(["rev-list", "--first-parent", c]).trim().split("\n");
  const anchor = anchorOf(chain.length, period);
  if (committed.size === 0) for (const line of git(["log", "--all", "--format=%H %ct"]).trim().split("\n")) committed.set(line.split(" ")[0]!, Number(line.split(" ")[1]));
  const times = committed;
  const trees = chain.map(entries);
  const files: Record<string, number> = {};
  // The commits whose changes count: down to the anchor (generation `anchor`, chain[length - anchor]), not included.
  const walked = chain.length - anchor;
  for (const p of trees[0]!.keys()) {
    let found: number | undefined;
    for (let i = 0; i < walked && found === undefined; i++) {
      if (i === chain.length - 1 || trees[i]!.get(p) !== trees[i + 1]!.get(p)) found = times.get(chain[i]!);
    }
    files[p] = found ?? times.get(chain[walked]!)!;
  }
  const all: Record<string, number> = { ...files };
  for (const [p, t] of Object.entries(files)) {
    const parts = p.split("/");
    for (let i = 0; i < parts.length; i++) {
      const folder = parts.slice(0, i).join("/");
      all[folder] = Math.max(all[folder] ?? 0, t);
    }
  }
  return all;
}

const source = (): { gitDir: string } => ({ gitDir });
const got = async (c: string, limits?: WalkLimits, after?: string): Promise<Record<string, number>> => Object.fromEntries((await sourceTimes(source(), c, { limits, after })).times);

/** A small random generator, the same every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

/** A history with every kind of change, a side branch merged twice and one commit dated before its parent. */
async function history(): Promise<string[]> {
  const rnd = random(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const names = ["a.txt", "b.txt", "src/c.py", "src/d.py", "src/deep/e.py", "static/f.css", "g", "h/i.txt"];
  const commits: string[] = [];
  await writeFile(path.join(work, "LICENSE"), "never changes\n");
  for (const n of names) {
    await mkdir(path.dirname(path.join(work, n)), { recursive: true });
    await writeFile(path.join(work, n), `${n} 0\n`);
  }
  commits.push(commit("root"));
  for (let i = 1; i <= 40; i++) {
    const n = pick(names);
    const file = path.join(work, n);
    const op = Math.floor(rnd() * 6);
    await rm(file, { recursive: true, force: true });
    await mkdir(path.dirname(file), { recursive: true }).catch(() => undefined);
    if (op === 0) {
      // gone (a folder left empty goes with it in git)
    } else if (op === 1) await symlink("LICENSE", file).catch(() => undefined);
    else if (op === 2) await writeFiles(file, { "inner.txt": `${i}\n` });
    else {
      await writeFile(file, op === 3 ? `${n} 0\n` : `${n} ${i}\n`).catch(() => undefined);
      if (op === 5) await chmod(file, 0o755).catch(() => undefined);
    }
    if (i === 20) {
      // A side branch from here, merged back (its file comes in with the merge).
      git(["checkout", "--quiet", "-b", "side"]);
      await writeFile(path.join(work, "side.txt"), "side\n");
      commit("on the side");
      git(["checkout", "--quiet", "main"]);
      await rm(path.join(work, "side.txt"), { force: true });
      git(["merge", "--quiet", "--no-ff", "-m", "merge", "side"], { GIT_COMMITTER_DATE: `@${(at += 60)} +0000` });
      commits.push(git(["rev-parse", "HEAD"]).trim());
      git(["checkout", "--quiet", "-f", "main"]);
    }
    commits.push(commit(`change ${i}`, i === 30 ? at - 100_000 : (at += 60)));
  }
  commits.push(commit("empty"));
  return commits;
}

async function writeFiles(folder: string, files: Record<string, string>): Promise<void> {
  await mkdir(folder, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(folder, name), text);
}

describe("a source's times: each path's last change in the commit's first-parent history", () => {
  let commits: string[];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "source-times-"));
    gitDir = path.join(dir, "repo.git");
    work = path.join(dir, "work");
    await mkdir(work);
    execFileSync("git", ["init", "--quiet", "--bare", "--initial-branch=main", gitDir]);
    commits = await history();
  });
  afterAll(async () => {
    forgetSourceTimes();
    await rm(dir, { recursive: true, force: true });
  });

  it("walked from nothing, for every commit", async () => {
    for (const c of commits) {
      forgetSourceTimes();
      expect(await got(c), c).toEqual(expected(c));
    }
  });

  it("the same when each commit's walk meets its parent's known times (a build after a build)", async () => {
    forgetSourceTimes();
    for (const c of commits) expect(await got(c), c).toEqual(expected(c));
    // Several commits at once too (a push of many), and an older commit again (a rollback).
    forgetSourceTimes();
    await got(commits[3]!);
    expect(await got(commits.at(-1)!)).toEqual(expected(commits.at(-1)!));
    expect(await got(commits[10]!)).toEqual(expected(commits[10]!));
  });

  it("the same when told which known commit the walk may stop after, whether or not it is on the way", async () => {
    const side = git(["rev-parse", "side"]).trim();
    for (const limits of [undefined, { period: 4, listAfter: 2 }]) {
      for (let i = 0; i < commits.length; i += 3) {
        for (const after of [commits[i - 1], commits[i - 4], commits[i + 2], side, commits[i]]) {
          if (after === undefined) continue;
          forgetSourceTimes();
          await got(after, limits);
          expect(await got(commits[i]!, limits, after), `${commits[i]} after ${after}`).toEqual(expected(commits[i]!, limits?.period));
        }
      }
    }
  });

  it("with a short period: what did not change since the anchor gets its time, whatever was known before", async () => {
    for (const period of [3, 7]) {
      const limits = { period, listAfter: 2 };
      for (const c of commits) {
        forgetSourceTimes();
        expect(await got(c, limits), c).toEqual(expected(c, period));
      }
      forgetSourceTimes();
      for (const c of commits) expect(await got(c, limits), c).toEqual(expected(c, period));
      forgetSourceTimes();
      let last: string | undefined;
      for (const c of commits) {
        expect(await got(c, limits, last), c).toEqual(expected(c, period));
        last = c;
      }
    }
    // Stopped early once every path is found (listed after two commits), the answer is the same.
    forgetSourceTimes();
    for (const c of commits) expect(await got(c, { period: 1000, listAfter: 2 }), c).toEqual(expected(c));
  });

  it("anchors a line of at least two periods one to two periods down, the same for a whole period", () => {
    expect([1, 7, 8, 9, 11, 12, 15, 16, 23, 24].map((g) => anchorOf(g, 4))).toEqual([0, 0, 4, 4, 4, 8, 8, 12, 16, 20]);
    expect(anchorOf(9_999, 5000)).toBe(0);
    expect(anchorOf(10_000, 5000)).toBe(5000);
  });

  it("stamps tar entries by name (a folder's ends in a slash) and leaves unknown ones alone", async () => {
    forgetSourceTimes();
    const root = commits[0]!;
    const times = await sourceTimes(source(), root);
    const t = expected(root)["src/deep/e.py"]!;
    expect(timeOf(times, "src/deep/")).toBe(t);
    expect(stamped({ name: "src/deep/e.py", mtime: new Date(0) }, times).mtime).toEqual(new Date(t * 1000));
    const other = { name: "not/there", mtime: new Date(5000) };
    expect(stamped(other, times)).toBe(other);
    expect(stamped(other, undefined)).toBe(other);
  });

  it("stops with the build: an aborted walk rejects and keeps nothing", async () => {
    forgetSourceTimes();
    const stop = new AbortController();
    const walking = sourceTimes(source(), commits.at(-1)!, { signal: stop.signal });
    stop.abort(new Error("the push went away"));
    await expect(walking).rejects.toThrow();
    // Nothing half-made was kept: asked again, the answer is whole.
    expect(await got(commits.at(-1)!)).toEqual(expected(commits.at(-1)!));
  });

  it("fails with git's message for a commit the repository does not have", async () => {
    await expect(sourceTimes(source(), "0".repeat(40))).rejects.toThrow(/git (rev-list|log)/);
  });
});
