import { killChildGroup } from "../util/process-group.js";
import type { StreamedChild } from "../util/process-helper.js";
import { sweepQuarantine } from "./repos.js";

/**
 * The git processes we are running, so that shutdown can stop them and so that a repo's leftover
 * quarantine is swept only once no receive-pack is working in it.
 */
export class GitChildren {
  private readonly running = new Set<StreamedChild>();
  private readonly pushesByRepo = new Map<string, number>();
  /** Repos where a receive-pack ended abnormally: their quarantine may hold leftovers. */
  private readonly dirty = new Set<string>();

  /**
   * `leftoverAgeMs`: how old a quarantine must be to be swept; 0 (the default) while this node is
   * alone with its repos, more where other nodes' receive-packs may be working in them.
   */
  constructor(
    private readonly onSweep: (gitDir: string, swept: string[]) => void = () => undefined,
    private readonly leftoverAgeMs: () => number = () => 0,
  ) {}

  add(child: StreamedChild, gitDir: string, isPush: boolean): void {
    this.running.add(child);
    if (isPush) this.pushesByRepo.set(gitDir, (this.pushesByRepo.get(gitDir) ?? 0) + 1);
  }

  /** Call once, when the child has exited; resolves after any sweep. */
  async exited(child: StreamedChild, gitDir: string, isPush: boolean, clean: boolean): Promise<void> {
    this.running.delete(child);
    if (!isPush) return;
    if (!clean) this.dirty.add(gitDir);
    const left = (this.pushesByRepo.get(gitDir) ?? 1) - 1;
    if (left > 0) {
      this.pushesByRepo.set(gitDir, left);
      return;
    }
    this.pushesByRepo.delete(gitDir);
    if (!this.dirty.delete(gitDir)) return;
    const swept = await sweepQuarantine(gitDir, this.leftoverAgeMs());
    if (swept.length > 0) this.onSweep(gitDir, swept);
  }

  /** How many receive-packs are running in the repo now. */
  pushesIn(gitDir: string): number {
    return this.pushesByRepo.get(gitDir) ?? 0;
  }

  /** How many receive-packs are running in all repos. */
  pushes(): number {
    let n = 0;
    for (const count of this.pushesByRepo.values()) n += count;
    return n;
  }

  pids(): number[] {
    return [...this.running].map((c) => c.pid).filter((p): p is number => p !== undefined);
  }

  /** Stops every child (process groups) and waits until they have exited. */
  async killAll(): Promise<void> {
    const waits = [...this.running].map(
      (child) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("close", () => resolve()))),
    );
    for (const child of this.running) killChildGroup(child, 1000);
    await Promise.all(waits);
  }
}
