import type { Readable } from "node:stream";
import { parseSlugignore, type Slugignore } from "../../slug/slugignore.js";
import { mapTar, type TarHeader } from "../../slug/tar-transform.js";
import { failpoint, holdStream } from "../../util/failpoints.js";
import { BUILD_DIR, buildEnv, Collected, extractIntoBuild, runInBuild } from "../container-exec.js";
import { gitArchive, readPushedCommit, treeChanges, type TreeChange } from "../git-source.js";
import type { LaidSource, SourceRef } from "../types.js";
import type { StepContext } from "./step.js";

export interface SourceResult {
  /** The commit's time (what git archive stamps on its entries): slug mtimes are clamped to it. */
  readonly sourceDate: Date;
  /** Files `.slugignore` kept out. */
  readonly ignored: number;
}

/** More changed paths than this and the whole tree goes in again (and no argument list grows long). */
const MAX_CHANGES = 2000;
const MAX_ARG_BYTES = 256 * 1024;

/**
 * The pushed commit into /app: `git archive` unpacked by the build user, through a filter that
 * applies `.slugignore` (before the build, as Heroku does) when the app has one. Where /app holds
 * an earlier commit already (`laid`, unpacked with the same `.slugignore`), only what differs
 * between the two trees is removed and unpacked, and every entry gets the commit's time, so /app
 * ends as the whole unpacking would have left it.
 */
export async function putSource(step: StepContext, source: SourceRef, laid?: LaidSource): Promise<SourceResult> {
  const pushed = await readPushedCommit(source, step.commit, step.signal);
  const ignoreText = pushed.files[".slugignore"];
  const ignore = ignoreText === undefined ? undefined : parseSlugignore(ignoreText);
  for (const line of ignore?.unsupported ?? []) step.out.error(`.slugignore: "${line}" ignored (negation is not supported)`);
  const sourceDate = pushed.date;

  let ignored: number | undefined;
  if (laid) {
    ignored = laid.slugignore === ignoreText ? await updateLaid(step, source, laid, pushed.tree, ignore, sourceDate) : undefined;
    if (ignored === undefined) await clearBuildDir(step);
  }
  if (ignored === undefined) {
    const archive = gitArchive(source, step.commit, step.signal);
    const filtered = filterSource(holdStream(archive.stream, "source", step.app, step.signal), ignore);
    await Promise.all([extractIntoBuild(step, filtered.tar, BUILD_DIR), archive.done]);
    ignored = filtered.ignored();
  }
  if (ignored > 0) step.out.detail(`.slugignore removed ${ignored} file${ignored === 1 ? "" : "s"}`);
  return { sourceDate, ignored };
}

const identity = (h: TarHeader): TarHeader => h;

/**
 * A tar of the source through `.slugignore` (none: the tar itself); `ignored()` counts the files
 * it kept out so far.
 */
export function filterSource(tar: Readable, ignore: Slugignore | undefined, map: (h: TarHeader) => TarHeader | undefined = identity): { tar: Readable; ignored(): number } {
  let ignored = 0;
  if (!ignore && map === identity) return { tar, ignored: () => 0 };
  const out = mapTar(tar, (h) => {
    const kept = sourceEntry(h, ignore);
    if (!kept && h.type !== "directory") ignored++;
    return kept && map(kept);
  });
  return { tar: out, ignored: () => ignored };
}

/** Keeps an entry of the source tar unless `.slugignore` drops it (ownership is the unpacking build user's). */
export function sourceEntry(header: TarHeader, ignore: Slugignore | undefined): TarHeader | undefined {
  return ignore?.ignores(header.name, header.type === "directory") ? undefined : header;
}

const FOLDER_MODES = new Set(["040000", "160000"]);

/**
 * /app from the laid commit to `tree`: what changed is removed, then unpacked from the pushed
 * commit, then every entry gets the commit's time. The number of files `.slugignore` keeps out,
 * or undefined when the change is too large to be worth it (or the trees cannot be compared): the
 * caller then clears /app and unpacks it whole. A failure part-way is the caller's to clear too.
 */
async function updateLaid(step: StepContext, source: SourceRef, laid: LaidSource, tree: string, ignore: Slugignore | undefined, date: Date): Promise<number | undefined> {
  let changes: TreeChange[] | undefined;
  try {
    changes = await treeChanges(source, laid.tree, tree, MAX_CHANGES, step.signal);
  } catch (err) {
    if (step.signal.aborted) throw err;
    step.log.warn({ err }, "comparing the commit with the one in the prepared container failed; unpacking it whole");
    return undefined;
  }
  if (changes === undefined) return undefined;
  const remove: string[] = [];
  const add: string[] = [];
  let ignored = laid.ignored;
  for (const c of changes) {
    const wasFolder = FOLDER_MODES.has(c.oldMode);
    const isFolder = c.newMode === "040000";
    // A folder that stays one keeps what did not change in it; anything else that was there goes.
    if (c.oldMode !== "000000" && !(wasFolder && c.status === "M")) remove.push(c.path);
    if (c.newMode !== "000000" && !isFolder && !(c.oldMode === "160000" && c.newMode === "160000")) add.push(c.path);
    if (!isFolder && c.newMode !== "160000" && ignore?.ignores(c.path, false)) ignored += c.status === "A" ? 1 : 0;
    if (!wasFolder && c.status === "D" && ignore?.ignores(c.path, false)) ignored -= 1;
  }
  // Paths go on the exec's command line: a long list (far under Linux's limit) unpacks all instead.
  if (remove.reduce((n, p) => n + p.length + 1, 0) > MAX_ARG_BYTES) return undefined;
  try {
    // One exec: the changed paths go, the pushed commit's versions come in on stdin, every entry gets the commit's time.
    const seconds = String(Math.floor(date.getTime() / 1000));
    let stdin: Readable | undefined;
    let archived: Promise<void> = Promise.resolve();
    if (add.length > 0) {
      const archive = gitArchive(source, step.commit, step.signal, add);
      stdin = filterSource(holdStream(archive.stream, "source", step.app, step.signal), ignore).tar;
      archived = archive.done;
    } else {
      // Nothing to unpack: the step's hold point (tests) is passed all the same.
      await failpoint("source", step.app, step.signal);
    }
    const script = 't=$1 unpack=$2; shift 2; cd /app && { [ $# -eq 0 ] || rm -rf -- "$@"; } && { [ "$unpack" = no ] || tar -x -p -f - -C /app; } && find /app -mindepth 1 -exec touch -h -d "@$t" -- {} +';
    await Promise.all([inBuildDir(step, script, [seconds, stdin ? "yes" : "no", ...remove], "updating /app", stdin), archived]);
  } catch (err) {
    if (step.signal.aborted) throw err;
    step.log.warn({ err }, "updating the source in the prepared container failed; unpacking it whole");
    return undefined;
  }
  step.log.debug({ from: laid.commit, removed: remove.length, unpacked: add.length }, "source updated from the commit in the prepared container");
  return Math.max(0, ignored);
}

/** Empties /app (an earlier commit's source that cannot be updated in place). */
async function clearBuildDir(step: StepContext): Promise<void> {
  await inBuildDir(step, "find /app -mindepth 1 -delete", [], "emptying /app");
}

async function inBuildDir(step: StepContext, script: string, args: readonly string[], what: string, stdin?: Readable): Promise<void> {
  const stderr = new Collected(4096);
  const code = await runInBuild(step, ["sh", "-c", script, "sh", ...args], buildEnv(step), { stderr, stdin });
  if (code !== 0) throw new Error(`${what} failed (exit ${code}): ${stderr.text().trim()}`);
}
