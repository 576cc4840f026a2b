import { setPriority } from "node:os";
import PQueue from "p-queue";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { spawnGit } from "../gitcli/git.js";
import type { Logger } from "../log.js";
import { failpoint } from "../util/failpoints.js";
import { killProcessGroup } from "../util/process-group.js";

export interface RepoMaintenanceOptions {
  /** Extra `-c` settings for `git gc` (tests lower gc.autoPackLimit). */
  readonly gitConfig?: Readonly<Record<string, string>>;
}

/**
 * `git gc --auto` for a repo after each push, one repo at a time and off the push path: pushes keep
 * their packs (receive.unpackLimit=1), so packs pile up until gc's own thresholds (gc.autoPackLimit,
 * 50 by default) say to repack them into one. Most runs find nothing to do and exit at once.
 * Running gc while another push arrives is safe (git locks and prunes only old unreachable objects).
 */
export class RepoMaintenance {
  private readonly queue = new PQueue({ concurrency: 1 });
  /** Repos queued and not started yet: a push to one of them needs no second run. */
  private readonly waiting = new Set<string>();
  private runningPid: number | undefined;
  private closed = false;

  constructor(
    private readonly log: Logger,
    private readonly options: RepoMaintenanceOptions = {},
  ) {}

  /** Asks for a check of `gitDir`; a repo already waiting is not queued twice. */
  schedule(gitDir: string): void {
    if (this.closed || this.waiting.has(gitDir)) return;
    this.waiting.add(gitDir);
    void this.queue.add(async () => {
      this.waiting.delete(gitDir);
      await this.gc(gitDir);
    });
  }

  /** Resolves once nothing is running or waiting. */
  idle(): Promise<void> {
    return this.queue.onIdle();
  }

  /** Stops a running gc (its lock and temp files are git's to clean up) and drops the rest. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.clear();
    this.waiting.clear();
    killProcessGroup(this.runningPid, 1000);
    await this.queue.onIdle();
  }

  private async gc(gitDir: string): Promise<void> {
    await failpoint("repo-gc", path.basename(gitDir, ".git"));
    const started = performance.now();
    // Starting git costs this process more (it is stopped while the child is made) than looking.
    if (!(await mayNeedGc(gitDir, this.options.gitConfig ?? {}))) return;
    const child = spawnGit(["--git-dir", gitDir, "gc", "--auto", "--quiet"], { config: { "gc.autoDetach": "false", ...this.options.gitConfig } });
    // Behind builds and pushes for the CPU: a repack of a large repo can take a while.
    const begun = (): void => {
      this.runningPid = child.pid;
      if (this.closed) killProcessGroup(child.pid, 1000);
      try {
        if (child.pid !== undefined) setPriority(child.pid, 10);
      } catch {
        // already gone, or not allowed: it runs at normal priority
      }
    };
    if (child.pid !== undefined) begun();
    else child.once("spawn", begun);
    let stderr = "";
    child.stdout.resume();
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString("utf8")).slice(-2000)));
    child.stdin.end();
    return new Promise<void>((resolve) => {
      child.on("error", (err) => {
        this.log.warn({ err, gitDir }, "could not run git gc");
        resolve();
      });
      child.on("close", (code) => {
        this.runningPid = undefined;
        const ms = Math.round(performance.now() - started);
        if (code !== 0 && !this.closed) this.log.warn({ gitDir, code, stderr: stderr.trim() }, "git gc --auto failed");
        else this.log.debug({ gitDir, ms }, "git gc --auto");
        resolve();
      });
    });
  }
}

const DEFAULT_PACK_LIMIT = 50;
const DEFAULT_LOOSE_LIMIT = 6700;

/**
 * Whether `git gc --auto` might find work, told from the files it looks at itself (builtin/gc.c's
 * need_to_gc): more packs than gc.autoPackLimit, or more loose objects than gc.auto, estimated as
 * it does from objects/17. Every pack is counted (git leaves out kept ones), so this says yes
 * whenever git would. A gc setting in the repo's or the user's git config leaves the decision to git.
 */
export async function mayNeedGc(gitDir: string, config: Readonly<Record<string, string>>): Promise<boolean> {
  const configs = [path.join(gitDir, "config"), ...userConfigs()];
  const texts = await Promise.all(configs.map((f) => readFile(f, "utf8").catch(() => "")));
  if (texts.some((t) => /^\s*\[\s*gc\b/im.test(t))) return true;
  const packLimit = Number(config["gc.autoPackLimit"] ?? DEFAULT_PACK_LIMIT);
  const looseLimit = Number(config["gc.auto"] ?? DEFAULT_LOOSE_LIMIT);
  if (!Number.isFinite(packLimit) || !Number.isFinite(looseLimit)) return true;
  if (looseLimit <= 0) return false;
  const objects = path.join(gitDir, "objects");
  const [packs, loose] = await Promise.all([readdir(path.join(objects, "pack")).catch(() => []), readdir(path.join(objects, "17")).catch(() => [])]);
  if (packLimit > 0 && packs.filter((f) => f.endsWith(".pack")).length > packLimit) return true;
  return loose.filter((f) => /^[0-9a-f]{38}$/.test(f)).length > Math.ceil(looseLimit / 256);
}

function userConfigs(): string[] {
  const home = process.env.HOME;
  const xdg = process.env.XDG_CONFIG_HOME || (home ? path.join(home, ".config") : undefined);
  return [...(home ? [path.join(home, ".gitconfig")] : []), ...(xdg ? [path.join(xdg, "git", "config")] : [])];
}
