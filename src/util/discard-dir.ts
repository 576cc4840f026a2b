import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, rename, rm } from "node:fs/promises";
import path from "node:path";

const PREFIX = ".deleted-";

/**
 * Removes a folder tree so that it is gone at once for everyone else: it is first renamed to a
 * hidden sibling (`.deleted-<name>-<random>`), then deleted. A crash in between leaves only the
 * hidden sibling, which sweepDiscarded removes at the next start. False when there was nothing.
 */
export async function discardDir(dir: string): Promise<boolean> {
  const aside = path.join(path.dirname(dir), `${PREFIX}${path.basename(dir)}-${randomBytes(6).toString("hex")}`);
  try {
    await rename(dir, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
  await rm(aside, { recursive: true, force: true, maxRetries: 3 });
  return true;
}

/** Removes what discardDir left in `parent` when it was stopped half way; the count removed. */
export async function sweepDiscarded(parent: string): Promise<number> {
  const names = (await readdir(parent).catch(() => [] as string[])).filter((n) => n.startsWith(PREFIX));
  await Promise.all(names.map((n) => rm(path.join(parent, n), { recursive: true, force: true, maxRetries: 3 })));
  return names.length;
}

/**
 * discardDir for a big tree whose removal nobody waits for (a scratch root filesystem: seconds
 * of disk time here): renamed aside at once, then removed by a detached `rm -rf` that may outlive
 * this process. What it has not finished, sweepDiscarded removes at the next start.
 */
export async function discardDirInBackground(dir: string): Promise<void> {
  const aside = path.join(path.dirname(dir), `${PREFIX}${path.basename(dir)}-${randomBytes(6).toString("hex")}`);
  try {
    await rename(dir, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  const rm = spawn("rm", ["-rf", "--one-file-system", aside], { detached: true, stdio: "ignore" });
  rm.on("error", () => undefined);
  rm.unref();
}
