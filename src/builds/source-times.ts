import { StringDecoder } from "node:string_decoder";
import { SlugforgeError } from "../errors.js";
import { runGitChecked, spawnGit } from "../gitcli/git.js";
import { sourceEnv } from "./git-source.js";
import type { TarHeader } from "../slug/tar-transform.js";
import { stderrHead } from "../util/child-output.js";
import type { SourceRef } from "./types.js";

/*
 * The mtimes a commit's source gets in /app, a function of the commit alone (as `git restore-mtime`
 * gives a working copy): each file, link or submodule has the committer time of the last commit
 * that changed it, walking the commit's first parents (a merge counts as changing what it brought
 * in); each folder has the latest time of what is beneath it. So a file that did not change keeps
 * its time from build to build, and with it its tar header and the last slug's compressed blocks
 * around it, whichever app built the commit and from which history: the same commit still gives
 * the same slug. What changed is newer than what did not, as tools that compare times expect.
 *
 * A long line of first parents is not walked to its start: from a commit of generation g (its
 * line's length) of at least two periods, the walk ends at the anchor, the commit of generation
 * (floor(g / period) - 1) * period, and what did not change since gets the anchor's time. Commits
 * of one period share their anchor, so the times of what did not change stay put from build to
 * build, and a walk reads between one and two periods of commits. A walk also stops once every
 * path has its time, and where it meets a commit whose times are known already and give the same
 * answer (the last build's: kept in memory).
 */

/**
 * `period`: commits of first-parent line that share an anchor (see above). `listAfter`: walked
 * this far without meeting a known commit, the commit's paths are listed, so that the walk can
 * stop once each has its time.
 */
export interface WalkLimits {
  readonly period: number;
  readonly listAfter: number;
}

export const WALK_LIMITS: WalkLimits = { period: 5000, listAfter: 64 };

export interface SourceTimes {
  readonly commit: string;
  /** Seconds since the epoch by path, as in the tree (no trailing slash; "" is the root). */
  readonly times: ReadonlyMap<string, number>;
  /** The folders among those paths ("" included). */
  readonly folders: ReadonlySet<string>;
  /** The length of its first-parent line, itself included (a first commit: 1). */
  readonly generation: number;
  /** The generation of the commit whose time what did not change since gets; 0: none (the whole line counts). */
  readonly anchor: number;
}

/** The anchor's generation for a commit of generation `g` (0: none). */
export function anchorOf(g: number, period: number): number {
  return g < 2 * period ? 0 : (Math.floor(g / period) - 1) * period;
}

/** The time of a tar entry of the commit's source (a folder's name ends in "/"); undefined when the tree has no such path. */
export function timeOf(times: SourceTimes, name: string): number | undefined {
  return times.times.get(name.endsWith("/") ? name.replace(/\/+$/, "") : name);
}

/** Computed times by commit, the most recently used last; bounded by the paths they hold. */
class TimesCache {
  private readonly entries = new Map<string, SourceTimes>();
  private paths = 0;

  constructor(private readonly maxPaths: number) {}

  clear(): void {
    this.entries.clear();
    this.paths = 0;
  }

  get(commit: string): SourceTimes | undefined {
    const known = this.entries.get(commit);
    if (known) {
      this.entries.delete(commit);
      this.entries.set(commit, known);
    }
    return known;
  }

  set(times: SourceTimes): void {
    if (this.entries.has(times.commit)) return;
    this.entries.set(times.commit, times);
    this.paths += times.times.size;
    for (const [commit, old] of this.entries) {
      if (this.paths <= this.maxPaths || commit === times.commit) break;
      this.entries.delete(commit);
      this.paths -= old.times.size;
    }
  }
}

const cache = new TimesCache(400_000);

/** Forgets every commit's times (tests: the walk from nothing against the one that meets a known commit). */
export function forgetSourceTimes(): void {
  cache.clear();
}

/**
 * The times of `commit`'s source (see above). Kept by commit: a commit names its whole history,
 * so its times are the same in any repository that has it. `after`: a commit that is likely the
 * first-parent ancestor the walk would meet (the one built last), whose known times then spare git
 * the walk past it (and the listing of its changes, which for a first commit is every path).
 */
export async function sourceTimes(source: SourceRef, commit: string, options: { readonly signal?: AbortSignal; readonly after?: string; readonly limits?: WalkLimits } = {}): Promise<SourceTimes> {
  const { signal, after, limits = WALK_LIMITS } = options;
  const known = cache.get(commit);
  if (known) return known;
  const base = after === undefined || after === commit ? undefined : cache.get(after);
  const times = (base ? await walkAfter(source, commit, base, limits, signal) : undefined) ?? (await walkFrom(source, commit, limits, signal));
  cache.set(times);
  return times;
}

/** What a commit's newest listing of a path said: when, and whether the path is there after it. */
interface Seen {
  readonly time: number;
  readonly present: boolean;
}

/** The newest listing of each path a walk read. */
class Listings {
  readonly seen = new Map<string, Seen>();
  /** Commits whose changes have been read, and the time of the last of them. */
  walked = 0;
  time = 0;
  /** The commit's paths once listed, and how many of them are still without a time. */
  listed: Set<string> | undefined;
  pending = 0;

  commitRead(time: number): void {
    this.walked++;
    this.time = time;
  }

  note(path: string, present: boolean): void {
    if (this.seen.has(path)) return;
    this.seen.set(path, { time: this.time, present });
    if (this.listed?.has(path)) this.pending--;
  }

  list(paths: Set<string>): void {
    this.listed = paths;
    for (const p of paths) if (!this.seen.has(p)) this.pending++;
  }

  /** Every path that is there, with its time: the whole line was read. */
  present(): Map<string, number> {
    const files = new Map<string, number>();
    for (const [p, s] of this.seen) if (s.present) files.set(p, s.time);
    return files;
  }

  /** Each of `paths` with its time (`otherwise` for one not listed). */
  timesOf(paths: Set<string>, otherwise: number): Map<string, number> {
    const files = new Map<string, number>();
    for (const p of paths) files.set(p, this.seen.get(p)?.time ?? otherwise);
    return files;
  }

  /** A known commit's times with what was read since laid over them. */
  over(known: SourceTimes): Map<string, number> {
    const files = new Map(known.times);
    for (const p of known.folders) files.delete(p);
    for (const [p, s] of this.seen) {
      if (s.present) files.set(p, s.time);
      else files.delete(p);
    }
    return files;
  }
}

/**
 * The walk from `commit` as far as `base` (git stops at what is reachable from it), whose times
 * give the rest: undefined when it did not end just after it (`base` is not on the commit's
 * first-parent line), or when `base` has another anchor.
 */
async function walkAfter(source: SourceRef, commit: string, base: SourceTimes, limits: WalkLimits, signal?: AbortSignal): Promise<SourceTimes | undefined> {
  const read = new Listings();
  let parent = "";
  await readLog(source, [commit, `^${base.commit}`], signal, {
    commit(_hash, time, first) {
      read.commitRead(time);
      parent = first;
      return true;
    },
    path: (p, present) => read.note(p, present),
  });
  if (read.walked === 0) return undefined;
  if (parent === base.commit) {
    const generation = base.generation + read.walked;
    return anchorOf(generation, limits.period) === base.anchor ? finished(commit, read.over(base), generation, base.anchor) : undefined;
  }
  // The whole line read (base is not on it): the answer, unless the line is long enough for an anchor.
  if (parent === "" && anchorOf(read.walked, limits.period) === 0) return finished(commit, read.present(), read.walked, 0);
  return undefined;
}

/** The walk from `commit` to its anchor (or its line's start), or to a known commit of the same anchor. */
async function walkFrom(source: SourceRef, commit: string, limits: WalkLimits, signal?: AbortSignal): Promise<SourceTimes> {
  const generation = await generationOf(source, commit, signal);
  const anchor = anchorOf(generation, limits.period);
  const depth = generation - anchor;
  const read = new Listings();
  let listing: Promise<Set<string>> | undefined;
  let result: SourceTimes | undefined;
  let anchorTime: number | undefined;
  await readLog(source, [commit], signal, {
    commit(hash, time) {
      if (read.walked > 0) {
        const known = cache.get(hash);
        if (known && known.anchor === anchor && known.generation === generation - read.walked) {
          result = finished(commit, read.over(known), generation, anchor);
          return false;
        }
        if (read.listed && read.pending === 0) {
          result = finished(commit, read.timesOf(read.listed, 0), generation, anchor);
          return false;
        }
      }
      if (read.walked === depth) {
        // The anchor: its own changes are not read.
        anchorTime = time;
        return false;
      }
      read.commitRead(time);
      if (read.walked === limits.listAfter) {
        listing = listPaths(source, commit, signal);
        listing.then((paths) => read.list(paths), () => undefined);
      }
      return true;
    },
    path: (p, present) => read.note(p, present),
  });
  if (result) return result;
  if (anchorTime === undefined) return finished(commit, read.present(), generation, anchor);
  const paths = read.listed ?? (await (listing ?? listPaths(source, commit, signal)));
  return finished(commit, read.timesOf(paths, anchorTime), generation, anchor);
}

/** The length of the commit's first-parent line. */
async function generationOf(source: SourceRef, commit: string, signal?: AbortSignal): Promise<number> {
  const result = await runGitChecked(["rev-list", "--first-parent", "--count", commit, "--"], { env: sourceEnv(source), signal });
  const count = Number(result.stdout.trim());
  if (!Number.isSafeInteger(count) || count < 1) throw new SlugforgeError("INTERNAL", `git rev-list --count printed ${JSON.stringify(result.stdout.slice(0, 100))}`);
  return count;
}

/** Each commit's line starts with this (a path's field never comes where a line is expected). */
const HEADER = "\x01";
const COMMIT_LINE = /^([0-9a-f]+) (\d+) ?([0-9a-f]*)/;

interface LogVisitor {
  /** At a commit's line (its hash, time and first parent, "" for none): false stops the walk there. */
  commit(hash: string, time: number, parent: string): boolean;
  /** A path the commit changed, and whether it is there after the change. */
  path(path: string, present: boolean): void;
}

/** `git log` of first parents over `range`, each commit's changes (to its first parent) given to `visitor`. */
async function readLog(source: SourceRef, range: readonly string[], signal: AbortSignal | undefined, visitor: LogVisitor): Promise<void> {
  const stop = new AbortController();
  const child = spawnGit(["log", "--first-parent", "--diff-merges=first-parent", "--root", "--no-renames", "--raw", "-z", "--no-abbrev", "--format=%x01%H %ct %P", ...range, "--"], {
    env: sourceEnv(source),
    signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
  });
  child.stdin.end();
  const stderr = stderrHead(child.stderr);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  exited.catch(() => undefined);

  const read = async (): Promise<boolean> => {
    const decoder = new StringDecoder("utf8");
    let rest = "";
    let mode = "";
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      const fields = (rest + decoder.write(chunk)).split("\0");
      rest = fields.pop() ?? "";
      for (const raw of fields) {
        if (mode !== "") {
          // The path of the raw line before.
          visitor.path(raw, mode !== "000000");
          mode = "";
          continue;
        }
        const field = raw.startsWith("\n") ? raw.slice(1) : raw;
        if (field.startsWith(":")) {
          // ":<old mode> <new mode> <old> <new> <status>"; its path is the next field.
          mode = field.slice(8, 14);
          if (!/^[0-7]{6}$/.test(mode)) throw new Error(`git log printed a line it should not: ${JSON.stringify(field.slice(0, 200))}`);
          continue;
        }
        const m = field.startsWith(HEADER) ? COMMIT_LINE.exec(field.slice(1)) : null;
        if (!m) {
          if (field === "") continue;
          throw new Error(`git log printed a field it should not: ${JSON.stringify(field.slice(0, 200))}`);
        }
        if (!visitor.commit(m[1]!, Number(m[2]), m[3]!)) return false;
      }
    }
    return true;
  };

  let whole: boolean;
  try {
    whole = await read();
  } finally {
    // Done early (or failed): the rest of the walk is not needed.
    stop.abort();
    child.stdout.destroy();
  }
  if (!whole) return;
  const code = await exited;
  if (code !== 0) throw new SlugforgeError("INTERNAL", `git log ${range.join(" ")} exited with ${code}: ${stderr().trim()}`);
}

/** The commit's files, links and submodules (no folders). */
async function listPaths(source: SourceRef, commit: string, signal?: AbortSignal): Promise<Set<string>> {
  const result = await runGitChecked(["ls-tree", "-r", "-z", "--full-tree", "--name-only", commit], { env: sourceEnv(source), signal });
  const paths = result.stdout.split("\0");
  paths.pop();
  return new Set(paths);
}

/** The times of `commit` from its files' times: each folder gets the latest beneath it ("" the root). */
function finished(commit: string, files: Map<string, number>, generation: number, anchor: number): SourceTimes {
  const latest = new Map<string, number>();
  let root: number | undefined;
  for (const [name, t] of files) {
    if (root === undefined || t > root) root = t;
    for (let i = name.indexOf("/"); i !== -1; i = name.indexOf("/", i + 1)) {
      const folder = name.slice(0, i);
      const had = latest.get(folder);
      if (had === undefined || t > had) latest.set(folder, t);
    }
  }
  if (root !== undefined) latest.set("", root);
  for (const [folder, t] of latest) files.set(folder, t);
  return { commit, times: files, folders: new Set(latest.keys()), generation, anchor };
}

/** `header` with its path's time in `times` (none there, or no times: as it was). */
export function stamped(header: TarHeader, times: SourceTimes | undefined): TarHeader {
  const t = times && timeOf(times, header.name);
  return t === undefined ? header : { ...header, mtime: new Date(t * 1000) };
}
