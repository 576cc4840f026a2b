import { chmod, chown, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { parseSlugignore } from "../slug/slugignore.js";
import type { TarHeader } from "../slug/tar-transform.js";
import { runProcess } from "../util/run-process.js";
import { BUILD_DIR, BUILD_UID } from "./container-exec.js";
import { gitArchive, readPushedCommit, type PushedCommit } from "./git-source.js";
import { sourceTimes, stamped } from "./source-times.js";
import { filterSource } from "./steps/source.js";
import type { LaidSource, SourceRef } from "./types.js";

/*
 * A container made ahead of time for an app's next build (layer mode) gets the app's last built
 * commit unpacked in its /app, off the push's path, so that the next build's source step only
 * swaps what changed (steps/source.ts). The host unpacks into the created container's writable
 * layer, which nothing runs in yet, with GNU tar as root: every entry is checked first (a file,
 * folder or link; no absolute name, no `..`, nothing beneath a link an earlier entry made) and
 * given to the build user, so nothing lands outside /app whatever the commit holds.
 */

/** How long the commit may take to leave the push's quarantine for the repository (the push's last step). */
const COMMIT_WAIT_MS = 3000;

/** Unpacks `commit` (as putSource would: `.slugignore` applied, each entry with its time) into `<upperDir>/app`; a failure leaves no /app there. */
export async function laySource(upperDir: string, repo: SourceRef, commit: string, signal: AbortSignal): Promise<LaidSource> {
  const pushed = await commitInRepository(repo, commit, signal);
  const times = await sourceTimes(repo, commit, { signal });
  const slugignore = pushed.files[".slugignore"];
  const ignore = slugignore === undefined ? undefined : parseSlugignore(slugignore);
  const app = path.join(upperDir, BUILD_DIR.slice(1));
  await mkdir(app, { mode: 0o755 });
  try {
    await chmod(app, 0o755);
    await chown(app, BUILD_UID, BUILD_UID);
    const archive = gitArchive(repo, commit, signal);
    const links = new Set<string>();
    const filtered = filterSource(archive.stream, ignore, (h) => stamped(checkedEntry(h, links), times));
    await Promise.all([untarIntoLayer(filtered.tar, app, "the source", signal), archive.done]);
    return { commit, tree: pushed.tree, slugignore, ignored: filtered.ignored() };
  } catch (err) {
    await rm(app, { recursive: true, force: true });
    throw err;
  }
}

/**
 * GNU tar on the host, as root, unpacking `tar` into `dir` of a created container's layer with the
 * owners and modes it gives (the caller's tar: checked entries, or our own). A stream that fails
 * part-way stops tar too (it would otherwise wait for more input).
 */
export async function untarIntoLayer(tar: Readable, dir: string, what: string, signal: AbortSignal): Promise<void> {
  const stop = new AbortController();
  const streamed = finished(tar).catch((err: unknown) => {
    stop.abort(err);
    throw err;
  });
  const [result] = await Promise.all([
    runProcess("tar", ["-x", "-p", "--same-owner", "--numeric-owner", "-f", "-", "-C", dir], { stdin: tar, signal: AbortSignal.any([signal, stop.signal]) }),
    streamed,
  ]);
  if (result.code !== 0) throw new Error(`unpacking ${what} into the prepared container failed (tar exited with ${result.code}): ${result.stderr.trim().slice(0, 500)}`);
}

/** The commit read from the repository itself: a push moves its objects there from quarantine just after its build. */
async function commitInRepository(repo: SourceRef, commit: string, signal: AbortSignal): Promise<PushedCommit> {
  const started = Date.now();
  for (;;) {
    try {
      return await readPushedCommit({ gitDir: repo.gitDir }, commit, signal);
    } catch (err) {
      if (signal.aborted || Date.now() - started > COMMIT_WAIT_MS) throw err;
      await sleep(100, undefined, { signal });
    }
  }
}

/**
 * An entry of git's archive as the build user's (its pax comment, the commit id, never comes as an
 * entry). Anything but a file, folder or link, and anything that could reach outside the folder,
 * is refused, and the whole unpacking with it.
 */
export function checkedEntry(header: TarHeader, links: Set<string>): TarHeader {
  if (header.type !== "file" && header.type !== "directory" && header.type !== "symlink") throw new Error(`the source has ${JSON.stringify(header.name)} of type ${header.type}; not unpacking it on the host`);
  const name = header.name.replace(/\/+$/, "");
  const parts = name.split("/");
  if (name.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) throw new Error(`the source has an entry named ${JSON.stringify(name)}; not unpacking it on the host`);
  for (let i = 1; i <= parts.length; i++) {
    if (links.has(parts.slice(0, i).join("/"))) throw new Error(`the source has ${JSON.stringify(name)} beneath a link; not unpacking it on the host`);
  }
  if (header.type === "symlink") links.add(name);
  return { ...header, uid: BUILD_UID, gid: BUILD_UID, uname: "", gname: "" };
}
