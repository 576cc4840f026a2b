import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

/**
 * Settings for every receive-pack/upload-pack we run, given with `-c` so nothing in a repo's own
 * config can change them (and hooks come from the server, never from the repo).
 */
export function gitServerConfig(hooksDir: string, maxPushBytes: number): string[] {
  const settings = [
    `core.hooksPath=${hooksDir}`,
    // Below 5 s: isomorphic-git on Node >= 19 gives up after 5 s of silence.
    "receive.keepAlive=2",
    "transfer.fsckObjects=true",
    // Keep every push as the pack it came in: below the default limit (100 objects) git unpacks a
    // push into loose objects, deflating each again: 3x slower for a few large blobs. The packs
    // are merged by \`git gc --auto\` after pushes (RepoMaintenance).
    "receive.unpackLimit=1",
    "receive.denyDeletes=true",
    // CI systems push from shallow clones.
    "receive.shallowUpdate=true",
    `receive.maxInputSize=${maxPushBytes}`,
    // gc inside a push would delay the pusher; maintenance runs elsewhere.
    "receive.autogc=false",
    "receive.advertisePushOptions=true",
  ];
  return settings.flatMap((s) => ["-c", s]);
}

/**
 * The whole environment git and the hook get: no server secrets leak into them. Identity for the
 * hook travels as SLUGFORGE_* variables.
 */
export function minimalGitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: process.env.HOME ?? "/nonexistent",
    GIT_CONFIG_NOSYSTEM: "1",
    LANG: "C.UTF-8",
  };
  return { ...env, ...extra };
}

/**
 * Spawns git in its own process group so that killing the group also stops index-pack,
 * unpack-objects and the pre-receive hook it started.
 */
export function spawnGit(args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): ChildProcessWithoutNullStreams {
  return spawn("git", [...args], { env, cwd, detached: true, stdio: ["pipe", "pipe", "pipe"] });
}

/** SIGTERM to the group, SIGKILL a little later if it is still there. */
export function killProcessGroup(pid: number | undefined, graceMs = 2000): void {
  if (pid === undefined) return;
  const signal = (sig: NodeJS.Signals): boolean => {
    try {
      process.kill(-pid, sig);
      return true;
    } catch {
      return false; // ESRCH: already gone
    }
  };
  if (!signal("SIGTERM")) return;
  const timer = setTimeout(() => signal("SIGKILL"), graceMs);
  timer.unref();
}

/** True while any process of the group is alive. */
export function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
