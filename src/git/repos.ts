import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { runGitChecked } from "../gitcli/git.js";
import { sweepDiscarded } from "../util/discard-dir.js";

/** Bare repos live at <reposDir>/<app>.git; the name must already be validated. */
export function repoPath(reposDir: string, app: string): string {
  return path.join(reposDir, `${app}.git`);
}

export async function repoExists(reposDir: string, app: string): Promise<boolean> {
  try {
    return (await stat(path.join(repoPath(reposDir, app), "HEAD"))).isFile();
  } catch {
    return false;
  }
}

const creating = new Map<string, Promise<boolean>>();

/**
 * Creates the bare repo for a first push, HEAD on main. It is made under a temporary name and
 * renamed into place, so a half-made repo is never served and two racing first pushes create it
 * once. Resolves true only for the call that created it.
 */
export function createRepo(reposDir: string, app: string): Promise<boolean> {
  const key = repoPath(reposDir, app);
  const pending = creating.get(key);
  if (pending) return pending.then(() => false);
  const work = (async () => {
    if (await repoExists(reposDir, app)) return false;
    await mkdir(reposDir, { recursive: true });
    const tmp = path.join(reposDir, `.tmp-${app}-${randomBytes(6).toString("hex")}`);
    try {
      // No template: the sample hooks and the rest are of no use to a served repo.
      await runGitChecked(["init", "--quiet", "--bare", "--template=", "-b", "main", tmp]);
      await rename(tmp, key);
      return true;
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if (await repoExists(reposDir, app)) return false;
      throw err;
    }
  })();
  creating.set(key, work);
  return work.finally(() => creating.delete(key));
}

/**
 * Removes `objects/tmp_objdir-incoming-*` left by a receive-pack that was killed (git 2.39 leaves
 * them). Only safe when no receive-pack is running on the repo; the caller makes sure of that on
 * its own node, and where other nodes share the repos folder it gives `olderThanMs` (a quarantine
 * untouched that long is no push's).
 */
export async function sweepQuarantine(gitDir: string, olderThanMs = 0): Promise<string[]> {
  const objects = path.join(gitDir, "objects");
  let names: string[];
  try {
    names = await readdir(objects);
  } catch {
    return [];
  }
  const stale = await olderThan(
    names.filter((n) => n.startsWith("tmp_objdir-incoming-")).map((n) => path.join(objects, n)),
    olderThanMs,
  );
  await Promise.all(stale.map((p) => rm(p, { recursive: true, force: true, maxRetries: 3 })));
  return stale;
}

/**
 * At startup nothing runs yet, so every repo's leftover quarantine is stale, as is a half-deleted
 * repo, and so are the lock and temp files of a git killed with the server (a `refs/heads/main.lock`
 * would refuse every later push of the app: "cannot lock ref").
 */
export async function sweepAllQuarantines(reposDir: string, olderThanMs = 0): Promise<string[]> {
  if (olderThanMs === 0) await sweepDiscarded(reposDir);
  let names: string[];
  try {
    names = await readdir(reposDir);
  } catch {
    return [];
  }
  const repos = names.filter((n) => n.endsWith(".git")).map((n) => path.join(reposDir, n));
  const swept = await Promise.all(repos.map(async (gitDir) => [...(await sweepQuarantine(gitDir, olderThanMs)), ...(await sweepStaleGitFiles(gitDir, olderThanMs))]));
  return swept.flat();
}

/** Lock files and half-written packs git leaves when it is killed; only safe while no git runs on the repo. */
async function sweepStaleGitFiles(gitDir: string, olderThanMs: number): Promise<string[]> {
  const candidates = ["HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock", "index.lock", "gc.pid"].map((name) => path.join(gitDir, name));
  const refs = await readdir(path.join(gitDir, "refs"), { recursive: true }).catch(() => [] as string[]);
  candidates.push(...refs.filter((r) => String(r).endsWith(".lock")).map((r) => path.join(gitDir, "refs", String(r))));
  const packDir = path.join(gitDir, "objects", "pack");
  for (const name of await readdir(packDir).catch(() => [] as string[])) if (/^(tmp_|\.tmp-)/.test(name)) candidates.push(path.join(packDir, name));
  const stale: string[] = [];
  for (const p of await olderThan(candidates, olderThanMs)) {
    if (await rm(p, { recursive: true }).then(() => true, () => false)) stale.push(p);
  }
  return stale;
}

/** The paths that exist and, unless `ms` is 0, were last changed at least `ms` ago. */
async function olderThan(paths: readonly string[], ms: number): Promise<string[]> {
  const cutoff = Date.now() - ms;
  const times = await Promise.all(paths.map((p) => lstat(p).then((s) => s.mtimeMs, () => undefined)));
  return paths.filter((_, i) => times[i] !== undefined && (ms === 0 || times[i]! <= cutoff));
}
