import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
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
 * them). Only safe when no receive-pack is running on the repo; the caller makes sure of that.
 */
export async function sweepQuarantine(gitDir: string): Promise<string[]> {
  const objects = path.join(gitDir, "objects");
  let names: string[];
  try {
    names = await readdir(objects);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith("tmp_objdir-incoming-"));
  await Promise.all(stale.map((n) => rm(path.join(objects, n), { recursive: true, force: true, maxRetries: 3 })));
  return stale.map((n) => path.join(objects, n));
}

/**
 * At startup nothing runs yet, so every repo's leftover quarantine is stale, as is a half-deleted
 * repo, and so are the lock and temp files of a git killed with the server (a `refs/heads/main.lock`
 * would refuse every later push of the app: "cannot lock ref").
 */
export async function sweepAllQuarantines(reposDir: string): Promise<string[]> {
  await sweepDiscarded(reposDir);
  let names: string[];
  try {
    names = await readdir(reposDir);
  } catch {
    return [];
  }
  const repos = names.filter((n) => n.endsWith(".git")).map((n) => path.join(reposDir, n));
  const swept = await Promise.all(repos.map(async (gitDir) => [...(await sweepQuarantine(gitDir)), ...(await sweepStaleGitFiles(gitDir))]));
  return swept.flat();
}

/** Lock files and half-written packs git leaves when it is killed; only safe while no git runs on the repo. */
async function sweepStaleGitFiles(gitDir: string): Promise<string[]> {
  const stale: string[] = [];
  for (const name of ["HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock", "index.lock", "gc.pid"]) {
    if (await rm(path.join(gitDir, name)).then(() => true, () => false)) stale.push(path.join(gitDir, name));
  }
  const refs = await readdir(path.join(gitDir, "refs"), { recursive: true }).catch(() => [] as string[]);
  for (const ref of refs.filter((r) => String(r).endsWith(".lock"))) {
    await rm(path.join(gitDir, "refs", String(ref)), { force: true });
    stale.push(path.join(gitDir, "refs", String(ref)));
  }
  const packDir = path.join(gitDir, "objects", "pack");
  for (const name of await readdir(packDir).catch(() => [] as string[])) {
    if (!/^(tmp_|\.tmp-)/.test(name)) continue;
    await rm(path.join(packDir, name), { recursive: true, force: true });
    stale.push(path.join(packDir, name));
  }
  return stale;
}
