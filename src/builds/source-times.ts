import { StringDecoder } from "node:string_decoder";
import { SlugforgeError } from "../errors.js";
import { runGitChecked, spawnGit } from "../gitcli/git.js";
import { sourceEnv } from "./git-source.js";
import type { TarHeader } from "../slug/tar-transform.js";
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
 * A walk of first parents stops when every path of the commit has its time, or after
 * WALK_LIMITS.maxWalk commits (what is still without one then gets the time of the last commit walked), or where it
 * meets a commit whose times are known already and give the same answer (TimesCache).
 */

/**
 * `maxWalk`: first-parent commits walked at most for one commit's times. `listAfter`: walked this
 * far without meeting a known commit, the commit's paths are listed, so that the walk can stop
 * once each has its time.
 */
export interface WalkLimits {
  readonly maxWalk: number;
  readonly listAfter: number;
}

export const WALK_LIMITS: WalkLimits = { maxWalk: 10_000, listAfter: 64 };

export interface SourceTimes {
  readonly commit: string;
  /** Seconds since the epoch by path, as in the tree (no trailing slash; "" is the root). */
  readonly times: ReadonlyMap<string, number>;
  /** How many commits a walk from this one takes at most to give every path its time. */
  readonly depth: number;
  /** False when the walk's limit ended it before every path had its time. */
  readonly complete: boolean;
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
  const times = (base?.complete ? await walk(source, commit, limits, signal, base) : undefined) ?? (await walk(source, commit, limits, signal));
  if (!times) throw new Error(`the walk of ${commit}'s history ended without an answer`);
  cache.set(times);
  return times;
}

/** What a commit's newest listing of a path said: when, and whether the path is there after it. */
interface Seen {
  readonly time: number;
  readonly present: boolean;
}

/** Each commit's line starts with this (a path's field never comes where a line is expected). */
const HEADER = "\x01";
const COMMIT_LINE = /^([0-9a-f]+) (\d+) ?([0-9a-f]*)/;

type WalkEnd = { readonly times: SourceTimes } | "history" | "cap";

/**
 * The walk from `commit`; with `base`, only as far as that commit (git stops at what is reachable
 * from it): undefined when it did not end just after it (`base` is not on the commit's first-parent
 * line, or is too far down it).
 */
async function walk(source: SourceRef, commit: string, limits: WalkLimits, signal?: AbortSignal, base?: SourceTimes): Promise<SourceTimes | undefined> {
  const stop = new AbortController();
  const range = base ? [commit, `^${base.commit}`] : [commit];
  const child = spawnGit(["log", "--first-parent", "--diff-merges=first-parent", "--root", "--no-renames", "--raw", "-z", "--no-abbrev", "--format=%x01%H %ct %P", ...range, "--"], {
    env: sourceEnv(source),
    signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
  });
  child.stdin.end();
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    if (stderr.length < 4096) stderr += b.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  exited.catch(() => undefined);

  const seen = new Map<string, Seen>();
  // Commits whose changes have been read, the time of the last of them, and its first parent.
  let walked = 0;
  let time = 0;
  let parent = "";
  let listed: Set<string> | undefined;
  let listing: Promise<Set<string>> | undefined;
  let pending = 0;

  const note = (path: string, present: boolean): void => {
    if (seen.has(path)) return;
    seen.set(path, { time, present });
    if (listed?.has(path)) pending--;
  };
  /** The times from a known commit's beneath what has been read. */
  const from = (known: SourceTimes | undefined): SourceTimes | undefined => {
    if (known?.complete && walked + known.depth <= limits.maxWalk) {
      const files = new Map(known.times);
      for (const p of folderNames(known)) files.delete(p);
      for (const [p, s] of seen) {
        if (s.present) files.set(p, s.time);
        else files.delete(p);
      }
      return finished(commit, files, walked + known.depth, true);
    }
    return undefined;
  };
  /** At an ancestor's header: the times, where a known commit gives them or every path has one already. */
  const enough = (hash: string): SourceTimes | undefined => {
    const known = from(cache.get(hash));
    if (known) return known;
    if (listed && pending === 0) return finished(commit, timesOf(listed, seen, 0), walked, true);
    return undefined;
  };

  const read = async (): Promise<WalkEnd> => {
    const decoder = new StringDecoder("utf8");
    let rest = "";
    let mode = "";
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      const fields = (rest + decoder.write(chunk)).split("\0");
      rest = fields.pop() ?? "";
      for (const raw of fields) {
        if (mode !== "") {
          // The path of the raw line before.
          note(raw, mode !== "000000");
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
        if (walked > 0) {
          const times = enough(m[1]!);
          if (times) return { times };
        }
        if (walked === limits.maxWalk) return "cap";
        walked++;
        time = Number(m[2]);
        parent = m[3]!;
        if (walked === limits.listAfter) {
          listing = listPaths(source, commit, signal);
          listing.then((paths) => {
            listed = paths;
            for (const p of paths) if (!seen.has(p)) pending++;
          }, () => undefined);
        }
      }
    }
    return "history";
  };

  let end: WalkEnd;
  try {
    end = await read();
  } finally {
    // Done early (or failed): the rest of the walk is not needed.
    stop.abort();
    child.stdout.destroy();
  }
  if (typeof end === "object") return end.times;
  if (end === "cap") {
    // What has no time yet gets the last walked commit's.
    return finished(commit, timesOf(await (listing ?? listPaths(source, commit, signal)), seen, time), limits.maxWalk, false);
  }
  const code = await exited;
  if (code !== 0) throw new SlugforgeError("INTERNAL", `git log ${commit} exited with ${code}: ${stderr.trim()}`);
  if (base) {
    if (walked > 0 && parent === base.commit) return from(base);
    // Not ended by reaching the root: ended elsewhere in what `base` reaches.
    if (walked === 0 || parent !== "") return undefined;
  }
  // The whole history walked: every path of the commit has been listed.
  const files = new Map<string, number>();
  for (const [p, s] of seen) if (s.present) files.set(p, s.time);
  return finished(commit, files, walked, true);
}

/** The commit's files, links and submodules (no folders). */
async function listPaths(source: SourceRef, commit: string, signal?: AbortSignal): Promise<Set<string>> {
  const result = await runGitChecked(["ls-tree", "-r", "-z", "--full-tree", "--name-only", commit], { env: sourceEnv(source), signal });
  const paths = result.stdout.split("\0");
  paths.pop();
  return new Set(paths);
}

/** Each of `paths` with the time its newest listing gave (`otherwise` for one not listed). */
function timesOf(paths: Set<string>, seen: ReadonlyMap<string, Seen>, otherwise: number): Map<string, number> {
  const times = new Map<string, number>();
  for (const p of paths) times.set(p, seen.get(p)?.time ?? otherwise);
  return times;
}

const folders = new WeakMap<SourceTimes, ReadonlySet<string>>();

/** The folders among a commit's paths. */
function folderNames(times: SourceTimes): ReadonlySet<string> {
  return folders.get(times) ?? new Set();
}

/** The times of `commit` from its files' times: each folder gets the latest beneath it ("" the root). */
function finished(commit: string, files: Map<string, number>, depth: number, complete: boolean): SourceTimes {
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
  const times: SourceTimes = { commit, times: files, depth, complete };
  folders.set(times, new Set(latest.keys()));
  return times;
}

/** `header` with its path's time in `times` (none there, or no times: as it was). */
export function stamped(header: TarHeader, times: SourceTimes | undefined): TarHeader {
  const t = times && timeOf(times, header.name);
  return t === undefined ? header : { ...header, mtime: new Date(t * 1000) };
}
