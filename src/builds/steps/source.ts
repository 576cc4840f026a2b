import type { Readable } from "node:stream";
import { parseSlugignore, type Slugignore } from "../../slug/slugignore.js";
import { mapTar, type TarHeader } from "../../slug/tar-transform.js";
import { failpoint, holdStream } from "../../util/failpoints.js";
import { BUILD_DIR, buildEnv, Collected, extractIntoBuild, runInBuild } from "../container-exec.js";
import { gitArchive, readPushedCommit, treeChanges, type TreeChange } from "../git-source.js";
import type { StandbyExec } from "../standby-exec.js";
import { sourceTimes, stamped, type SourceTimes } from "../source-times.js";
import type { LaidSource, SourceRef } from "../types.js";
import { DETECT_STDERR_BYTES, DETECT_STDOUT_BYTES, type DetectedAhead, type StepContext } from "./step.js";
import { createMarks } from "../../util/step-timer.js";

export interface SourceResult {
  /** The commit's time: slug mtimes are clamped to it. */
  readonly sourceDate: Date;
  /** Files `.slugignore` kept out. */
  readonly ignored: number;
  /** The bin/detect results the source's own exec gave (`ahead`), in order; none when it ran none. */
  readonly detected?: readonly DetectedAhead[];
}

/**
 * Buildpacks installed in the container already, whose bin/detect may run in the source's exec
 * right after /app is updated (one engine round trip less), as detectBuildpacks would run them:
 * in order, stopping at the first that fails (`everyOne`) or at the first that accepts.
 */
export interface DetectAhead {
  readonly dirs: readonly string[];
  readonly everyOne: boolean;
}

/** More changed paths than this and the whole tree goes in again (and no argument list grows long). */
const MAX_CHANGES = 2000;
const MAX_ARG_BYTES = 256 * 1024;

/**
 * The pushed commit into /app: `git archive` unpacked by the build user, through a filter that
 * applies `.slugignore` (before the build, as Heroku does) when the app has one, and gives each
 * entry its time (source-times.ts: its last change's, so what did not change keeps its time from
 * build to build). Where /app holds an earlier commit already (`laid`, unpacked with the same
 * `.slugignore`), only what differs between the two trees is removed and unpacked, and what has
 * another time now gets it, so /app ends as the whole unpacking would have left it.
 */
export async function putSource(step: StepContext, source: SourceRef, laid?: LaidSource, options: { readonly ahead?: DetectAhead; readonly standby?: StandbyExec } = {}): Promise<SourceResult> {
  const { ahead, standby } = options;
  // The times are worked out while the commit is read and compared.
  const timing = timesOrNone(step, source, laid?.commit);
  timing.catch(() => undefined);
  const pushed = await readPushedCommit(source, step.commit, step.signal);
  const ignoreText = pushed.files[".slugignore"];
  const ignore = ignoreText === undefined ? undefined : parseSlugignore(ignoreText);
  for (const line of ignore?.unsupported ?? []) step.out.error(`.slugignore: "${line}" ignored (negation is not supported)`);
  const sourceDate = pushed.date;

  let ignored: number | undefined;
  let detected: readonly DetectedAhead[] | undefined;
  if (laid) {
    const updated = laid.slugignore === ignoreText ? await updateLaid(step, source, laid, { tree: pushed.tree, ignore, timing, ahead, standby }) : undefined;
    ({ ignored, detected } = updated ?? {});
    if (updated === undefined) await clearBuildDir(step);
  }
  if (ignored === undefined) {
    const times = await timing;
    const archive = gitArchive(source, step.commit, step.signal);
    const filtered = filterSource(holdStream(archive.stream, "source", step.app, step.signal), ignore, (h) => stamped(h, times));
    await Promise.all([extractIntoBuild(step, filtered.tar, BUILD_DIR), archive.done]);
    ignored = filtered.ignored();
  }
  if (ignored > 0) step.out.detail(`.slugignore removed ${ignored} file${ignored === 1 ? "" : "s"}`);
  return { sourceDate, ignored, ...(detected ? { detected } : {}) };
}

const identity = (h: TarHeader): TarHeader => h;

/** The commit's source times; none when git could not give them (every entry then keeps the commit's time, as git archive stamps it). */
async function timesOrNone(step: StepContext, source: SourceRef, after: string | undefined): Promise<SourceTimes | undefined> {
  const { commit, signal } = step;
  try {
    return await sourceTimes(source, commit, { signal, after });
  } catch (err) {
    if (step.signal.aborted) throw err;
    step.log.warn({ err, commit }, "could not work out the source's times from its history; every entry gets the commit's time");
    return undefined;
  }
}

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
 * commit, then what has another time than it had (and the folders the change went through) gets
 * it; then, with `ahead`, the buildpacks' bin/detect.
 * The number of files `.slugignore` keeps out, or undefined when the change is too large to be
 * worth it (or the trees cannot be compared): the caller then clears /app and unpacks it whole. A
 * failure part-way is the caller's to clear too.
 */
async function updateLaid(
  step: StepContext,
  source: SourceRef,
  laid: LaidSource,
  target: { readonly tree: string; readonly ignore: Slugignore | undefined; readonly timing: Promise<SourceTimes | undefined>; readonly ahead: DetectAhead | undefined; readonly standby: StandbyExec | undefined },
): Promise<{ ignored: number; detected?: DetectedAhead[] } | undefined> {
  const { tree, ignore, timing, ahead, standby } = target;
  const { ms, mark } = createMarks();
  let changes: TreeChange[] | undefined;
  let before: SourceTimes;
  try {
    [changes, before] = await Promise.all([treeChanges(source, laid.tree, tree, MAX_CHANGES, step.signal), sourceTimes(source, laid.commit, { signal: step.signal })]);
  } catch (err) {
    if (step.signal.aborted) throw err;
    step.log.warn({ err }, "comparing the commit with the one in the prepared container failed; unpacking it whole");
    return undefined;
  }
  mark("compared");
  // With too many changes: the whole commit instead.
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
  // The changed paths' archive begins now, while the commit's times are still worked out (it waits
  // in its pipe until they are). The new tree holds a .gitattributes where the laid one did (found
  // as it was laid) or a change has one.
  const treeAttributes = laid.attributes || changes.some((c) => isAttributesFile(c.path));
  const stopArchive = new AbortController();
  const archive = add.length > 0 ? gitArchive(source, step.commit, AbortSignal.any([step.signal, stopArchive.signal]), add, !treeAttributes) : undefined;
  const dropArchive = (): undefined => {
    stopArchive.abort();
    archive?.stream.destroy();
    return undefined;
  };
  let times: SourceTimes | undefined;
  try {
    times = await timing;
  } catch (err) {
    dropArchive();
    throw err;
  }
  mark("timed");
  // Without the commit's times (logged): the whole commit instead.
  if (times === undefined) return dropArchive();
  const touch = retimed(before, times, changes, add);
  // Paths go on the exec's command line: a long list (far under Linux's limit) unpacks all instead.
  if ([...remove, ...touch].reduce((n, p) => n + p.length + 1, 0) > MAX_ARG_BYTES) return dropArchive();
  try {
    // One exec: the changed paths go, the pushed commit's versions come in on stdin (with their times), what has another time gets it.
    let stdin: Readable | undefined;
    let archived: Promise<void> = Promise.resolve();
    if (archive) {
      const stamping = times;
      stdin = filterSource(holdStream(archive.stream, "source", step.app, step.signal), ignore, (h) => stamped(h, stamping)).tar;
      archived = archive.done;
    } else {
      // Nothing to unpack: the step's hold point (tests) is passed all the same.
      await failpoint("source", step.app, step.signal);
    }
    if (ahead) await failpoint("detect", step.app, step.signal);
    const detectArgs = ahead ? [ahead.everyOne ? "every" : "first", ...ahead.dirs] : [];
    const args = [stdin ? "yes" : "no", String(remove.length), ...remove, ...touch, ...detectArgs];
    const stdout = new Collected(ahead ? ahead.dirs.length * 2 * (DETECT_STDOUT_BYTES + DETECT_STDERR_BYTES) : 0);
    await Promise.all([inBuildDir(step, ["bash", "-c", UPDATE_SCRIPT, "update", ...args], "updating /app", { stdin, stdout, standby }), archived]);
    mark("updated");
    const detected = ahead ? parseDetections(stdout.text(), ahead.dirs.length) : undefined;
    step.log.debug({ from: laid.commit, removed: remove.length, unpacked: add.length, retimed: touch.length, detected: detected?.length, treeAttributes, ms }, "source updated from the commit in the prepared container");
    return { ignored: Math.max(0, ignored), ...(detected ? { detected } : {}) };
  } catch (err) {
    dropArchive();
    if (step.signal.aborted) throw err;
    step.log.warn({ err }, "updating the source in the prepared container failed; unpacking it whole");
    return undefined;
  }
}

/** A `.gitattributes` file's path (in any folder). */
function isAttributesFile(p: string): boolean {
  return p === ".gitattributes" || p.endsWith("/.gitattributes");
}

/** Whether a commit's tree (every path of it has a time) holds a `.gitattributes` file, in any folder. */
export function hasAttributesFile(times: SourceTimes): boolean {
  for (const p of times.times.keys()) if (isAttributesFile(p)) return true;
  return false;
}

/**
 * UPDATE_SCRIPT's arguments that give paths their times after the change: how many times, then
 * for each time, the time, how many paths, the paths (relative to /app). Given: every path of the new tree but
 * /app itself and the files unpacked (they come with their times) whose time is not the one it
 * had, and every folder the change went through (unpacking and removing in it changed its time).
 */
function retimed(before: SourceTimes, after: SourceTimes, changes: readonly TreeChange[], unpacked: readonly string[]): string[] {
  const folders = new Set(changes.filter((c) => c.newMode === "040000").map((c) => c.path));
  const skip = new Set(unpacked);
  const byTime = new Map<number, string[]>();
  for (const [p, t] of after.times) {
    if (p === "" || skip.has(p) || (before.times.get(p) === t && !folders.has(p))) continue;
    const paths = byTime.get(t) ?? [];
    if (paths.length === 0) byTime.set(t, paths);
    paths.push(p);
  }
  const args = [String(byTime.size)];
  for (const [t, paths] of byTime) args.push(String(t), String(paths.length), ...paths);
  return args;
}

/**
 * bin/detect of each buildpack folder given after the first argument (`every`: all must accept;
 * `first`: the first that accepts wins), in order, with the build folder as its argument, as
 * detectBuildpacks runs them. Each one's stdout and stderr go to files (so nothing it prints, nor
 * anything it leaves running, can stand for a result line) and come back as one line each on
 * stdout: its exit code, then both outputs in base64. The files are new (noclobber: nothing found
 * there is written through) and are left in the container's temporary folder: a process started in
 * a build container costs milliseconds here (mktemp and rm were 15-25 ms of a 70 ms script), and
 * none is started for an output that is empty.
 */
export const DETECT_SCRIPT = `every=$1; shift
[ $# -eq 0 ] && exit 0
t=\${TMPDIR:-/tmp}/.slugforge-detect.$$.$RANDOM
set -C; { : >"$t.out" && : >"$t.err"; } || exit; set +C
for bp; do
  "$bp/bin/detect" ${BUILD_DIR} >"$t.out" 2>"$t.err" </dev/null
  c=$? o= e=
  [ ! -s "$t.out" ] || o=$(head -c ${DETECT_STDOUT_BYTES} "$t.out" | base64 -w0)
  [ ! -s "$t.err" ] || e=$(head -c ${DETECT_STDERR_BYTES} "$t.err" | base64 -w0)
  printf '%s %s %s\n' "$c" "$o" "$e"
  if [ "$every" = every ]; then [ "$c" -eq 0 ] || break; else [ "$c" -ne 0 ] || break; fi
done`;

/**
 * Arguments: whether a tar of the changed files comes on stdin, how many paths go, the paths that
 * go, then retimed's arguments (a path that is not there is left alone: .slugignore may keep it
 * out), then DETECT_SCRIPT's arguments (none: no detect).
 */
const UPDATE_SCRIPT = `unpack=$1 nrm=$2; shift 2
cd /app && { [ "$nrm" -eq 0 ] || rm -rf -- "\${@:1:$nrm}"; } && { [ "$unpack" = no ] || tar -x -p -f - -C /app; } || exit
shift "$nrm"
times=$1; shift
while [ "$times" -gt 0 ]; do
  touch -c -h -d "@$1" -- "\${@:3:$2}" || exit
  shift "$(( $2 + 2 ))"
  times=$(( times - 1 ))
done
[ $# -eq 0 ] && exit 0
${DETECT_SCRIPT}`;

/**
 * The result lines of UPDATE_SCRIPT's bin/detect runs (at most `count`). A bin/detect runs as the
 * build user, as the script does, so it could write lines of its own into the script's stdout:
 * what it could claim is no more than what its buildpack's bin/compile could do anyway, and lines
 * that are not results, or too many, fail the update (the caller then unpacks the commit whole and
 * runs each bin/detect in its own exec).
 */
export function parseDetections(stdout: string, count: number): DetectedAhead[] {
  const lines = stdout.split("\n").filter((line) => line !== "");
  if (lines.length > count) throw new Error(`${lines.length} bin/detect result lines for ${count} buildpacks`);
  return lines.map((line) => {
    const [code = "", out = "", err = "", ...rest] = line.split(" ");
    if (!/^[0-9]{1,3}$/.test(code) || rest.length > 0 || !BASE64.test(out) || !BASE64.test(err)) throw new Error(`not a bin/detect result line: ${line.slice(0, 100)}`);
    return { exitCode: Number(code), stdout: Buffer.from(out, "base64").toString("utf8"), stderr: Buffer.from(err, "base64").toString("utf8") };
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Empties /app (an earlier commit's source that cannot be updated in place). */
async function clearBuildDir(step: StepContext): Promise<void> {
  await inBuildDir(step, ["find", "/app", "-mindepth", "1", "-delete"], "emptying /app");
}

async function inBuildDir(step: StepContext, cmd: readonly string[], what: string, io: { stdin?: Readable; stdout?: Collected; standby?: StandbyExec } = {}): Promise<void> {
  const stderr = new Collected(4096);
  const { standby, ...streams } = io;
  const code = await (standby ? standby.run(cmd, buildEnv(step), { stderr, ...streams }, step.signal) : runInBuild(step, cmd, buildEnv(step), { stderr, ...streams }));
  if (code !== 0) throw new Error(`${what} failed (exit ${code}): ${stderr.text().trim()}`);
}
