import { lstatSync, type BigIntStats } from "node:fs";
import { chmod, chown, lstat, mkdir, open, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { LaidSlugUnusable, mergeLaid, recordLaid, UNCLAMPED, type FolderNow, type LaidSlug } from "../slug/laid-slug.js";
import { slugTar } from "../slug/slug-writer.js";
import { parseSlugignore } from "../slug/slugignore.js";
import type { TarHeader } from "../slug/tar-transform.js";
import { pipeChildOutput, stderrHead } from "../util/child-output.js";
import { statfsFree, underReserve, type FreeBytes } from "../util/disk-space.js";
import { formatBytes } from "../util/format-size.js";
import { killChildGroup } from "../util/process-group.js";
import { runProcess, spawnStreamed } from "../util/run-process.js";
import type { ChangesBelow } from "./changes-below.js";
import { BUILD_DIR, BUILD_UID } from "./container-exec.js";
import { gitArchive, readPushedCommit, type PushedCommit } from "./git-source.js";
import { sourceTimes, stamped } from "./source-times.js";
import { filterSource, hasAttributesFile } from "./steps/source.js";
import type { LaidSource, SourceRef } from "./types.js";

/*
 * A container made ahead of time for an app's next build (layer mode) gets the app's last built
 * commit unpacked in its /app, off the push's path, so that the next build's source step only
 * swaps what changed (steps/source.ts). The host unpacks into the created container's writable
 * layer, which nothing runs in yet, with GNU tar as root: every entry is checked first (a file,
 * folder or link; no absolute name, no `..`, nothing beneath a link an earlier entry made) and
 * given to the build user, so nothing lands outside /app whatever the commit holds.
 */

/** The laid /app's slug tar, beside the container's layer (not in it): it goes when the container goes. */
const LAID_SLUG_FILE = "slugforge-laid-app.tar";

/**
 * The laid /app's slug tar (slug/laid-slug.ts) into a file beside the container's layer, read by the
 * host's GNU tar as the slug step reads /app. `since`: when the laying ended (nothing but the build
 * changes /app after it). A file the build changes while this reads it is read again at the slug.
 * The tar is as large as the laid /app: it is not written, or stops and is removed, once the free
 * space on the layers' disk is under `disk.minFreeBytes` (SLUGFORGE_MIN_FREE_BYTES, the data
 * folder's reserve), so that it never takes what a build or a slug needs.
 */
export async function recordLaidSlug(
  layerDir: string,
  since: number,
  folders: ReadonlyMap<string, string>,
  signal: AbortSignal,
  disk: { readonly minFreeBytes?: number; readonly freeBytes?: FreeBytes } = {},
  dir = path.dirname(layerDir),
): Promise<LaidSlug> {
  const file = path.join(dir, LAID_SLUG_FILE);
  const { minFreeBytes = 0, freeBytes = statfsFree } = disk;
  const room = async (written: number): Promise<void> => {
    const free = await underReserve(dir, minFreeBytes, freeBytes);
    if (free !== undefined) {
      throw new Error(
        `${formatBytes(free)} free on the disk of the engine's layers, under the reserve of ${formatBytes(minFreeBytes)} (SLUGFORGE_MIN_FREE_BYTES): the laid /app's slug tar is not kept (${formatBytes(written)} of it written)`,
      );
    }
  };
  // Before the file is made: on a full disk, nothing is.
  await room(0);
  const handle = await open(file, "w", 0o600);
  let app: Readable;
  try {
    // 1: a file changed while it was read (the build began meanwhile): it is read again at the slug.
    app = layerAppTar(layerDir, undefined, signal, async (code, stderr) =>
      code === 0 || code === 1 ? undefined : new Error(`reading the laid /app for its slug tar failed (tar exited with ${code ?? "a signal"}): ${stderr}`),
    );
  } catch (err) {
    await handle.close();
    throw err;
  }
  try {
    return await recordLaid(slugTar(app, { clampMtime: UNCLAMPED }, () => undefined), handle, file, since, folders, room);
  } catch (err) {
    // What was written goes now, not with the container.
    await rm(file, { force: true });
    throw err;
  }
}

/**
 * `<upperDir>/app` as the host's GNU tar reads it (named `app/...`, sorted by name, numeric owners),
 * started by the process helper (the server is not stopped while the child is made). GNU tar follows
 * no symbolic link it meets, nor one swapped in while it reads, so nothing outside the layer is
 * read. Once tar has exited, `settle` says whether what it read stands: the stream ends, or fails
 * with the error `settle` gives. The reader gone (a failed or cancelled slug), tar is killed.
 * `changedAfter` (changedSinceOptions' time): only the folders and what changed since, as
 * changedSinceOptions stores them, the same bytes sooner (CHANGED_SCRIPT).
 */
export function layerAppTar(
  upperDir: string,
  changedAfter: LaidSlug | undefined,
  signal: AbortSignal,
  settle: TarSettle,
): Readable {
  const run = changedAfter
    ? // --norc: with its stdin a socket (the process helper's pipes) and no SHLVL in the server's
      // environment, bash takes itself for one started by sshd and runs the user's ~/.bashrc first
      // (150-250 ms on this machine, and whatever it does).
      { file: "bash", args: ["--norc", "--noprofile", "-c", CHANGED_SCRIPT, "changed", upperDir, changedSinceOptions(changedAfter)[0]!, BUILD_DIR.slice(1)] }
    : { file: "tar", args: ["-c", "--sort=name", "--numeric-owner", "-f", "-", "-C", upperDir, BUILD_DIR.slice(1)] };
  return hostTar(run, signal, settle);
}

/** What changed in an /app laid beneath the upper layer, read in the container's mounted root: the names ChangesBelow gives, in their order. */
export function changedBelowTar(mergedDir: string, names: readonly string[], signal: AbortSignal, settle: TarSettle): Readable {
  // Names as they are (no option, no quoting), each ended by a NUL.
  const args = ["-c", "--no-recursion", "--numeric-owner", "-f", "-", "-C", mergedDir, "--null", "--verbatim-files-from", "--no-unquote", "-T", "-"];
  return hostTar({ file: "tar", args }, signal, settle, Buffer.from(names.map((n) => `${n}\0`).join("")));
}

/** Says, once a host tar has exited, whether what it read stands (undefined) or the error its stream fails with. */
export type TarSettle = (code: number | null, stderr: string) => Promise<Error | undefined>;

/** A tar on the host, its output as a stream that ends or fails as `settle` says once it has exited (layerAppTar). */
function hostTar(run: { readonly file: string; readonly args: readonly string[] }, signal: AbortSignal, settle: TarSettle, input?: Buffer): Readable {
  // In a group of its own: stopped (the reader gone, or the build), both of CHANGED_SCRIPT's tars go with it.
  const child = spawnStreamed({ ...run, env: process.env, detached: true }, signal);
  // A tar gone early (the build stopped) leaves the write to fail: that is for settle to say.
  child.stdin.on("error", () => undefined);
  child.stdin.end(input);
  const stderr = stderrHead(child.stderr);
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  pipeChildOutput(child.stdout, out, { end: false });
  out.on("close", () => child.exitCode === null && killChildGroup(child, 0));
  child.on("error", (err) => out.destroy(err));
  child.on("close", (code) => {
    settle(code, stderr().trim()).then(
      (err) => (err ? out.destroy(err) : out.end()),
      (err: Error) => out.destroy(err),
    );
  });
  return out;
}

/**
 * Arguments: the upper folder, GNU tar's --newer option, /app's name in it. GNU tar 1.34's walk with --newer opens and
 * stats every file before it looks at its times (four system calls a file: 60-100 ms of a 20 000-file
 * slug step); writing to /dev/null it opens none, and with -v it names, one line each as it goes
 * (stdbuf), the entries it would store: every folder and what changed. The second tar stores those
 * (`-T`, names unquoted as the first quoted them; hard links found by it, as the first would have, so
 * the first reads through them), the bytes the one walk would have written. Either tar failing fails
 * it: its exit code is the larger of theirs.
 */
const CHANGED_SCRIPT = `stdbuf -oL tar -c --sort=name --numeric-owner "$2" --warning=no-file-unchanged --hard-dereference -f /dev/null -v -C "$1" "$3" | tar -c --no-recursion --numeric-owner -f - -C "$1" -T -
s=("\${PIPESTATUS[@]}")
[ "\${s[0]}" -gt "\${s[1]}" ] && exit "\${s[0]}"
exit "\${s[1]}"`;

/**
 * Each folder of the laid /app by its name in the slug, and what it is known by (folderId): taken
 * after the laying and before the container starts, so that a folder the build moves is known where
 * it went (slugFromLaid).
 */
export async function laidFolders(upperDir: string): Promise<Map<string, string>> {
  const folders = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const dir = path.join(upperDir, rel);
    folders.set(`./${rel}/`, folderId(await lstat(dir, { bigint: true })));
    for (const d of await readdir(dir, { withFileTypes: true })) if (d.isDirectory()) await walk(`${rel}/${d.name}`);
  };
  await walk(BUILD_DIR.slice(1));
  return folders;
}

/** A folder as itself: its inode number and birth time (a removed folder's number is soon another one's; its birth time is not). */
function folderId(st: BigIntStats): string {
  return `${st.ino}:${st.birthtimeNs}`;
}

/** GNU tar's options for a read of /app that stores its folders and only what changed after `laid` was laid. */
export function changedSinceOptions(laid: LaidSlug): string[] {
  return [`--newer=@${Math.floor(laid.since / 1000)}.${String(laid.since % 1000).padStart(3, "0")}`];
}

/**
 * /app's slug tar from the laid one and `changed`, GNU tar's read of `<upperDir>/app` with
 * changedSinceOptions (slug/laid-slug.ts); the same bytes as slugTar of a whole read.
 */
export function slugFromLaid(
  changed: Readable,
  upperDir: string,
  laid: LaidSlug,
  clampMtime: Date,
  onFile: (name: string, bytes: number) => void,
  below?: ChangesBelow,
): ReturnType<typeof mergeLaid> {
  // Laid beneath the upper layer: `changed` is changedBelowTar's read of what `below` names, and `below` says what each folder holds.
  if (below) return mergeLaid(slugTar(changed, { clampMtime }, onFile), laid, (name) => below.folder(name), async () => undefined, onFile);
  const since = BigInt(laid.since) * 1_000_000n;
  const laidIds = new Set(laid.folders.values());
  // Each folder read, and whether a name in it was added, removed or renamed since the laying (its ctime says).
  const touched = new Map<string, boolean>();
  const onFolder = async (name: string): Promise<void> => {
    // At once (a stat of a folder on the engine's disk, ~100 of them for 20 000 files): a promise each was 10 ms of the slug step.
    const st = statNow(path.join(upperDir, name));
    // Gone, or swapped for something else, since tar read it: what it holds now is read (nothing, then).
    const changed = !st?.isDirectory() || st.ctimeNs >= since;
    touched.set(name, changed);
    // A changed folder may have been moved here, with its unchanged files in it.
    const id = st?.isDirectory() && changed ? folderId(st) : undefined;
    if (id !== undefined && id !== laid.folders.get(name) && laidIds.has(id)) {
      throw new LaidSlugUnusable(`the laid folder ${[...laid.folders].find(([, i]) => i === id)?.[0] ?? "?"} was moved to ${name}`);
    }
  };
  const folder = async (name: string): Promise<FolderNow> => {
    const changed = touched.get(name);
    if (changed === undefined) return "gone";
    if (!changed) return "unchanged";
    // Names only, and only those the laid tar holds count: a folder swapped for a link meanwhile gives nothing of where it points.
    return new Set(await readdir(path.join(upperDir, name)).catch(() => []));
  };
  return mergeLaid(slugTar(changed, { clampMtime }, onFile), laid, folder, onFolder, onFile);
}

/** A path's lstat, or undefined when it cannot be read (gone, or a folder on its way swapped for something else). */
function statNow(file: string): BigIntStats | undefined {
  try {
    return lstatSync(file, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

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
    return { commit, tree: pushed.tree, slugignore, ignored: filtered.ignored(), attributes: hasAttributesFile(times) };
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
