import { PassThrough, type Readable } from "node:stream";
import { SlugforgeError } from "../errors.js";
import { runGitChecked, spawnGit, type GitEnvExtras } from "../gitcli/git.js";
import { readObjects } from "../gitcli/objects.js";
import type { SourceRef } from "./types.js";
import { pipeChildOutput, stderrHead } from "../util/child-output.js";

/** What git needs besides its usual environment to read a pushed commit, which may still be in quarantine. */
export function sourceEnv(source: SourceRef): GitEnvExtras {
  return {
    GIT_DIR: source.gitDir,
    GIT_OBJECT_DIRECTORY: source.objectDirectory || undefined,
    GIT_ALTERNATE_OBJECT_DIRECTORIES: source.alternateObjectDirectories || undefined,
    GIT_QUARANTINE_PATH: source.quarantinePath || undefined,
  };
}

/** The commit's small files a build reads before its source is unpacked. */
export const COMMIT_FILES = [".slugignore", ".buildpacks", "app.json"] as const;
export type CommitFile = (typeof COMMIT_FILES)[number];

export interface PushedCommit {
  /** The committer time: what `git archive` stamps on every entry. */
  readonly date: Date;
  /** The commit's tree: what the build's source is (two commits with one tree build the same). */
  readonly tree: string;
  /** Each of COMMIT_FILES that the commit has as a file of at most 1 MiB (a larger one counts as none). */
  readonly files: Readonly<Partial<Record<CommitFile, string>>>;
}

const MAX_SMALL_FILE = 1024 * 1024;

const pushed = new WeakMap<SourceRef, Map<string, Promise<PushedCommit>>>();

/**
 * The commit's time and its COMMIT_FILES, read with one git process for the whole build (it
 * took up to five: ls-tree and cat-file for each file, and show). Kept per source and commit,
 * so the steps that need a part of it (source: `.slugignore` and the time; detect: `.buildpacks`;
 * the build service: `app.json`)
 * share the one read.
 */
export function readPushedCommit(source: SourceRef, commit: string, signal?: AbortSignal): Promise<PushedCommit> {
  const commits = pushed.get(source) ?? new Map<string, Promise<PushedCommit>>();
  pushed.set(source, commits);
  const known = commits.get(commit);
  if (known) return known;
  const reading = readCommit(source, commit, signal);
  commits.set(commit, reading);
  // A failed read (an aborted build, say) is not kept: a later caller asks git again.
  reading.catch(() => commits.delete(commit));
  return reading;
}

/** A small file of the commit (`.slugignore`, `.buildpacks`, `app.json`), or undefined when there is none. */
export async function readCommitFile(source: SourceRef, commit: string, file: CommitFile, signal?: AbortSignal): Promise<string | undefined> {
  return (await readPushedCommit(source, commit, signal)).files[file];
}

async function readCommit(source: SourceRef, commit: string, signal?: AbortSignal): Promise<PushedCommit> {
  const names = [commit, ...COMMIT_FILES.map((file) => `${commit}:${file}`)];
  const objects = await readObjects(names, { env: sourceEnv(source), signal, maxBytes: MAX_SMALL_FILE }).catch((err: unknown) => {
    throw new SlugforgeError("INTERNAL", `reading commit ${commit} failed: ${(err as Error).message}`, { cause: err });
  });
  const [head, ...blobs] = objects;
  const text = head?.type === "commit" ? head.head.toString("utf8") : "";
  const seconds = committerTime(text);
  const tree = /^tree ([0-9a-f]{40}(?:[0-9a-f]{24})?)$/m.exec(text.split("\n\n", 1)[0] ?? "")?.[1];
  if (seconds === undefined || tree === undefined) throw new SlugforgeError("INTERNAL", `commit ${commit} could not be read (${head ? `a ${head.type}` : "missing"})`);
  const files: Partial<Record<CommitFile, string>> = {};
  COMMIT_FILES.forEach((file, i) => {
    const blob = blobs[i];
    if (blob?.type === "blob" && blob.size <= MAX_SMALL_FILE) files[file] = blob.head.toString("utf8");
  });
  return { date: new Date(seconds * 1000), tree, files };
}

/** One path that differs between two trees (`git diff-tree -r -t`, trees listed too). */
export interface TreeChange {
  readonly status: string;
  /** Git's modes: 040000 a folder, 160000 a submodule, else a file or link; 000000 none. */
  readonly oldMode: string;
  readonly newMode: string;
  readonly path: string;
}

/**
 * The paths that differ between two trees, folders included, without rename detection; undefined
 * when there are more than `max` (a caller then takes the whole tree instead).
 */
export async function treeChanges(source: SourceRef, from: string, to: string, max: number, signal?: AbortSignal): Promise<TreeChange[] | undefined> {
  const result = await runGitChecked(["diff-tree", "-r", "-t", "-z", "--no-renames", "--no-commit-id", "--raw", from, to], { env: sourceEnv(source), signal });
  const fields = result.stdout.split("\0");
  const changes: TreeChange[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const m = /^:(\d{6}) (\d{6}) [0-9a-f]+ [0-9a-f]+ ([A-Z])\d*$/.exec(fields[i]!);
    if (!m) throw new SlugforgeError("INTERNAL", `git diff-tree printed a line it should not: ${JSON.stringify(fields[i]!.slice(0, 200))}`);
    const changed = fields[i + 1]!;
    // A name that is not UTF-8 would not survive the round trip to a pathspec: the whole tree instead.
    if (changed.includes("\uFFFD")) return undefined;
    changes.push({ oldMode: m[1]!, newMode: m[2]!, status: m[3]!, path: changed });
    if (changes.length > max) return undefined;
  }
  return changes;
}

/** The time on a commit object's committer line (`%ct`), from its header. */
function committerTime(text: string): number | undefined {
  const header = text.split("\n\n", 1)[0] ?? "";
  const m = /^committer .*> (\d+) [+-]\d{4}$/m.exec(header);
  return m ? Number(m[1]) : undefined;
}

/**
 * `git archive --format=tar <commit>` as a stream, or of just `paths` (literal paths, with the
 * folders on the way to them); `done` rejects when git fails. `noTreeAttributes`: the caller knows
 * the commit's tree holds no `.gitattributes` file, so git need not read the whole tree into an
 * index to look for them (`--worktree-attributes`: a bare repository has no work tree, and the
 * attributes git reads in both ways, the repository's info/attributes and the user's, it still
 * reads). That index was 10-30 ms of archiving ten paths of a 20 000-file commit.
 */
export function gitArchive(source: SourceRef, commit: string, signal?: AbortSignal, paths?: readonly string[], noTreeAttributes = false): { stream: Readable; done: Promise<void> } {
  const args = ["archive", "--format=tar", ...(noTreeAttributes ? ["--worktree-attributes"] : []), commit, ...(paths ? ["--", ...paths] : [])];
  const child = spawnGit(args, { env: { ...sourceEnv(source), GIT_LITERAL_PATHSPECS: paths ? "1" : undefined }, signal });
  child.stdin.end();
  const stderr = stderrHead(child.stderr);
  // Killed or failed, what it wrote is of no use: its pipe goes, read or not (unread, it would stay open).
  child.on("exit", (code) => code !== 0 && child.stdout.destroy());
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new SlugforgeError("INTERNAL", `git archive ${commit} exited with ${code}: ${stderr().trim()}`));
    });
  });
  done.catch(() => undefined);
  // Taken at once: a child's unread stdout is thrown away when it exits, and a small archive is
  // done before the reader (an exec being set up) is ready.
  const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
  pipeChildOutput(child.stdout, stream);
  return { stream, done };
}
