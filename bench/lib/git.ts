import { randomBytes } from "node:crypto";
import { cp, mkdir, open, writeFile } from "node:fs/promises";
import path from "node:path";
import { FIXTURE_APPS } from "./paths.js";
import { ok, run, type RunResult } from "./proc.js";

/** git with a fixed identity and no user or system config, so runs are alike. */
export function gitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_AUTHOR_NAME: "bench",
    GIT_AUTHOR_EMAIL: "bench@example.com",
    GIT_COMMITTER_NAME: "bench",
    GIT_COMMITTER_EMAIL: "bench@example.com",
    LANG: "C",
  };
}

export class Git {
  constructor(readonly home: string) {}
  ok(args: readonly string[], cwd: string): Promise<RunResult> {
    return ok("git", args, { cwd, env: gitEnv(this.home) });
  }
  /** `git push <remote> main`, timed; fails unless git exits 0. */
  async push(remote: string, cwd: string): Promise<RunResult> {
    const r = await run("git", ["push", "-q", remote, "main:main"], { cwd, env: gitEnv(this.home), timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`git push to ${redact(remote)} exited with ${r.code}:\n${r.stderr.slice(-3000)}`);
    return r;
  }
  /** A push that may fail (for counting failures): never throws on git's exit code. */
  tryPush(remote: string, cwd: string): Promise<RunResult> {
    return run("git", ["push", "-q", remote, "main:main"], { cwd, env: gitEnv(this.home), timeoutMs: 900_000 });
  }
  async initBare(dir: string): Promise<void> {
    await this.ok(["init", "-q", "--bare", dir], path.dirname(dir));
  }
  /** Commits everything in `dir` on main (a new repo when there is none). */
  async commitAll(dir: string, message: string): Promise<void> {
    await this.ok(["init", "-q", "-b", "main"], dir);
    await this.ok(["add", "-A"], dir);
    await this.ok(["commit", "-q", "-m", message], dir);
  }
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

/** A work tree holding a copy of a fixture app, committed on main. */
export async function fixtureRepo(git: Git, fixture: string, dir: string): Promise<void> {
  await cp(path.join(FIXTURE_APPS, fixture), dir, { recursive: true });
  await git.commitAll(dir, `${fixture} sample`);
}

/**
 * `count` files of random bytes (incompressible), `totalBytes` in all, committed and packed.
 * Packing once makes every push reuse the same pack data, so the client costs the same for each
 * remote and the push measures the server.
 */
export async function blobsRepo(git: Git, dir: string, totalBytes: number, count: number): Promise<void> {
  const each = Math.ceil(totalBytes / count);
  await mkdir(path.join(dir, "blobs"), { recursive: true });
  await writeFile(path.join(dir, "README"), "incompressible blobs for the receive benchmark\n");
  for (let i = 0; i < count; i++) {
    const file = await open(path.join(dir, "blobs", `blob-${String(i).padStart(3, "0")}.bin`), "w");
    try {
      for (let left = each; left > 0; left -= 1 << 20) await file.write(randomBytes(Math.min(left, 1 << 20)));
    } finally {
      await file.close();
    }
  }
  await git.commitAll(dir, "blobs");
  await git.ok(["repack", "-a", "-d", "-q"], dir);
  await git.ok(["prune"], dir);
}

/** A source tree of `count` small text files (distinct content) in 100 folders, committed and packed. */
export async function manyFilesRepo(git: Git, dir: string, count: number): Promise<void> {
  const perDir = 200;
  for (let d = 0; d * perDir < count; d++) {
    const sub = path.join(dir, "src", `module_${String(d).padStart(3, "0")}`);
    await mkdir(sub, { recursive: true });
    const writes: Promise<void>[] = [];
    for (let f = d * perDir; f < Math.min(count, (d + 1) * perDir); f++) writes.push(writeFile(path.join(sub, `file_${f}.py`), sourceText(f)));
    await Promise.all(writes);
  }
  await writeFile(path.join(dir, "README"), "a generated source tree for the receive benchmark\n");
  await git.commitAll(dir, "tree");
  await git.ok(["repack", "-a", "-d", "-q"], dir);
  await git.ok(["prune"], dir);
}

/** About 1-2 KB of plausible Python, different for every n. */
function sourceText(n: number): string {
  const lines = [`"""Generated module ${n}."""`, "", "import os", ""];
  const fns = 4 + (n % 5);
  for (let i = 0; i < fns; i++) {
    lines.push(`def f_${n}_${i}(x, y=${(n * 31 + i) % 97}):`);
    lines.push(`    """Returns a value derived from ${n}/${i}."""`);
    lines.push(`    total = x * ${(n + i) % 13} + y - ${(n * i) % 7}`);
    lines.push(`    return os.environ.get("K_${n}_${i}", str(total))`);
    lines.push("");
  }
  return `${lines.join("\n")}\n`;
}
