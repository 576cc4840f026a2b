import { spawn } from "node:child_process";
import { PassThrough, type Readable } from "node:stream";
import { SlugforgeError } from "../errors.js";
import { runProcess } from "../util/run-process.js";
import type { SourceRef } from "./types.js";

/** The environment git needs to read a pushed commit, which may still be in git's quarantine. */
export function gitSourceEnv(source: SourceRef): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/", GIT_DIR: source.gitDir };
  if (source.objectDirectory) env.GIT_OBJECT_DIRECTORY = source.objectDirectory;
  if (source.alternateObjectDirectories) env.GIT_ALTERNATE_OBJECT_DIRECTORIES = source.alternateObjectDirectories;
  if (source.quarantinePath) env.GIT_QUARANTINE_PATH = source.quarantinePath;
  return env;
}

const MAX_SMALL_FILE = 1024 * 1024;

/** A small file of the commit (`.slugignore`, `.buildpacks`), or undefined when there is none. */
export async function readCommitFile(source: SourceRef, commit: string, file: string, signal?: AbortSignal): Promise<string | undefined> {
  const env = gitSourceEnv(source);
  const listing = await runProcess("git", ["ls-tree", "-l", commit, "--", file], { env, signal });
  if (listing.code !== 0) throw new SlugforgeError("INTERNAL", `git ls-tree ${commit} failed: ${listing.stderr.trim()}`);
  const m = /^\d+ blob ([0-9a-f]+)\s+(\d+)\t/.exec(listing.stdout);
  if (!m) return undefined;
  if (Number(m[2]) > MAX_SMALL_FILE) return undefined;
  const blob = await runProcess("git", ["cat-file", "blob", m[1]!], { env, signal });
  if (blob.code !== 0) throw new SlugforgeError("INTERNAL", `git cat-file ${m[1]} failed: ${blob.stderr.trim()}`);
  return blob.stdout;
}

/** The commit's committer time: what `git archive` stamps on every entry. */
export async function commitDate(source: SourceRef, commit: string, signal?: AbortSignal): Promise<Date> {
  const shown = await runProcess("git", ["show", "-s", "--format=%ct", commit], { env: gitSourceEnv(source), signal });
  const seconds = Number(shown.stdout.trim());
  if (shown.code !== 0 || !Number.isFinite(seconds)) throw new SlugforgeError("INTERNAL", `git show ${commit} failed: ${shown.stderr.trim()}`);
  return new Date(seconds * 1000);
}

/** `git archive --format=tar <commit>` as a stream; `done` rejects when git fails. */
export function gitArchive(source: SourceRef, commit: string, signal?: AbortSignal): { stream: Readable; done: Promise<void> } {
  const child = spawn("git", ["archive", "--format=tar", commit], { env: gitSourceEnv(source), signal, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    if (stderr.length < 4096) stderr += b.toString("utf8");
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new SlugforgeError("INTERNAL", `git archive ${commit} exited with ${code}: ${stderr.trim()}`));
    });
  });
  done.catch(() => undefined);
  // Taken at once: a child's unread stdout is thrown away when it exits, and a small archive is
  // done before the reader (an exec being set up) is ready.
  const stream = new PassThrough({ highWaterMark: 1024 * 1024 });
  child.stdout.pipe(stream);
  return { stream, done };
}
