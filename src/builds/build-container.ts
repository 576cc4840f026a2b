import { randomBytes } from "node:crypto";
import { chmod, chown, mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../config/parse-config.js";
import type { Container, ContainerRuntime, ContainerSpec, CreatedContainer } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { failpoint } from "../util/failpoints.js";
import { runProcess } from "../util/run-process.js";
import { isRealDir, isRealDirBeneath } from "../util/real-dir.js";
import { clearSetId, removePrepared, type BuildCaches, type CacheModeChoice } from "./build-caches.js";
import { layBuildpacks, layEnv, type BuildpackCopy } from "./laid-inputs.js";
import { laidFolders, laySource, recordLaidSlug } from "./laid-source.js";
import type { LaidSlug } from "../slug/laid-slug.js";
import type { LaidInputs, LaidSource, SourceRef } from "./types.js";
import { preparedStandbys, type PreparedStandbys } from "./standby-exec.js";
import { BUILD_DIR, BUILD_LABEL, BUILD_UID, BUILD_USER, buildEnv, Collected, extractIntoBuild, runInBuild, SERVER_LABEL, type InContainer } from "./container-exec.js";
import { createMarks } from "../util/step-timer.js";

/*
 * A build container's life, in one place: made (or taken from those made ahead of time) with the
 * app's caches in place, used by the build session, then removed, or handed to the background
 * that saves its caches and makes the app's next container.
 *
 * "layer" mode (a local engine with overlay2, the usual case): the kept caches are copied straight
 * into a created, not yet started container's writable layer. Inside, CACHE_DIR is then on the
 * same filesystem and mount as /app, so a buildpack can hard-link between them (the Python
 * buildpack links its cached environment into /app instead of copying it). After a build that
 * succeeded the server, off the push's path, stops the container (its layer then holds still) and
 * renames each cache out of its layer into the kept folder, after checking with lstat that every
 * folder on the way is one (the container is made with keepWhenStopped, so the engine does not
 * remove it as it stops); where the data folder is on another filesystem the caches come out
 * through the container's own tar instead, before it stops. Then it makes the app's next build
 * container with the caches already in its layer; the next push only starts it.
 *
 * "mount" mode (no layer access, but the engine sees the data folder at the same path, as when
 * slugforge runs as another user, or in a container with `-v /srv/x:/srv/x`): the copy is a folder
 * of its own, `<cacheDir>/<app>/.work-<build>`, made while the source goes in and bind-mounted at
 * /tmp/cache; keeping it renames it into place. CACHE_DIR and /app are then on different mounts:
 * no hard links between them.
 *
 * "tar" mode (anything else: slugforge in a container of its own, a remote engine): the kept
 * caches go into the started container through its own tar over exec, while the source goes in,
 * and come back through its tar after the build, like layer mode's. Hard links work (one
 * filesystem inside the container); nothing is made ahead of time.
 *
 * Which one is chosen once per build service (chooseCacheMode), and the server logs it at start.
 */

/** Where CACHE_DIRs are inside the build container: `/tmp/cache/<buildpack key>`. */
export const CACHE_ROOT = "/tmp/cache";
/** CACHE_ROOT as a path in a container's upper layer. */
const CACHE_IN_LAYER = CACHE_ROOT.slice(1);
/** Labels a container made ahead of time for an app's next build. */
export const PREPARED_LABEL = "org.slugforge.prepared-for";

/** How a build gets its caches, once its container is open. */
export type CacheState =
  | {
      readonly mode: "layer";
      readonly spec: ContainerSpec;
      readonly layerDir?: string;
      readonly source?: LaidSource;
      readonly laid?: LaidInputs;
      /** Execs started in a prepared container ahead of the build, for its programs (standby-exec.ts). */
      readonly standbys?: PreparedStandbys;
    }
  | { readonly mode: "mount"; readonly workDir: string; readonly copying: Promise<void> }
  | { readonly mode: "tar"; readonly copying: Promise<void>; cancelCopy(): void };

export interface ContainerDeps {
  readonly runtime: ContainerRuntime;
  readonly caches: BuildCaches;
  readonly config: Pick<Config, "stack" | "buildNetwork" | "buildMounts" | "buildMemoryBytes" | "buildCpus" | "buildPids" | "buildTimeoutMs"> &
    Partial<Pick<Config, "buildCacheMode" | "laidSlug" | "minFreeBytes">>;
  /** Labels this server's build containers, so a sweep never touches another server's builds on a shared engine. */
  readonly serverId: string;
}

export interface OpenContainer {
  readonly container: Container;
  readonly cache: CacheState;
}

/** The spec of a build's container: unprivileged, capabilities dropped, limits, the operator's network and mounts. */
export function buildContainerSpec(deps: ContainerDeps, buildId: string, app: string): ContainerSpec {
  const { config } = deps;
  return {
    image: `slugforge/stack:${config.stack}-build`,
    name: `slugforge-build-${buildId}`,
    user: BUILD_USER,
    workdir: BUILD_DIR,
    network: config.buildNetwork,
    mounts: config.buildMounts.map((m) => ({ host: m.host, container: m.container, readOnly: m.readOnly })),
    memoryBytes: config.buildMemoryBytes,
    cpus: config.buildCpus,
    pidsLimit: config.buildPids,
    labels: { [BUILD_LABEL]: buildId, [SERVER_LABEL]: deps.serverId, "org.slugforge.app": app },
    hardened: true,
  };
}

/**
 * Which cache mode this service's builds use, and why (chosen once, see chooseCacheMode; a choice
 * that could not be made is tried again at the next build).
 */
export function cacheModeOf(deps: ContainerDeps): Promise<CacheModeChoice> {
  return deps.caches.mode(() => chooseCacheMode(deps));
}

/**
 * layer where the engine's container layers can be written from this process; else mount where
 * the engine sees the data folder as this process does (a probe container reads a file just
 * written there) and this process can give the build user its folders; else tar, which works
 * with any engine. SLUGFORGE_BUILD_CACHE_MODE forces one (layer only where it can work).
 */
export async function chooseCacheMode(deps: ContainerDeps): Promise<CacheModeChoice> {
  const setting = deps.config.buildCacheMode ?? "auto";
  const forced = `SLUGFORGE_BUILD_CACHE_MODE=${setting}`;
  if (setting === "tar" || setting === "mount") return { mode: setting, why: forced };
  const layer = await deps.runtime.layerAccess();
  if (layer) return { mode: "layer", why: `${setting === "layer" ? `${forced}; ` : ""}a local overlay2 engine whose container layers this process can write` };
  if (setting === "layer") {
    throw new SlugforgeError("CONFIG_INVALID", `${forced}, but the engine's container layers cannot be written from this process (not a local overlay2 engine, or slugforge runs in a container or as a user other than root)`);
  }
  const noLayer = "the engine's container layers cannot be written from this process";
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0 && uid !== BUILD_UID) {
    return { mode: "tar", why: `${noLayer}, and bind-mounted cache folders need this process to run as root or as uid ${BUILD_UID} (the build user), not ${uid}` };
  }
  const sees = await engineSeesFolder(deps, deps.caches.cacheDir);
  if (sees === true) return { mode: "mount", why: `${noLayer}, but the engine sees the data folder's ${deps.caches.cacheDir} as this process does (checked with a probe container)` };
  return {
    mode: "tar",
    why: `${noLayer}, and the engine sees something else at ${deps.caches.cacheDir} (${sees}): slugforge runs in a container whose data folder is not mounted at the same path on the host, or the engine is remote`,
  };
}

/**
 * Whether a container bind-mounting `dir` (read-only, never created when missing) reads there the
 * file this process has just written: true, or what it saw instead. The engine not answering or
 * the stack image missing are thrown (the choice is then made again later).
 */
async function engineSeesFolder(deps: ContainerDeps, dir: string): Promise<true | string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const token = randomBytes(16).toString("hex");
  const marker = `.engine-probe-${token.slice(0, 8)}`;
  await writeFile(`${dir}/${marker}`, token, { mode: 0o600 });
  try {
    const out = new Collected(256);
    const err = new Collected(512);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const code = await deps.runtime
      .runOnce(
        {
          image: `slugforge/stack:${deps.config.stack}-build`,
          user: `${uid}:${gid}`,
          network: "none",
          mounts: [{ host: dir, container: "/probe", readOnly: true, mustExist: true }],
          labels: { [SERVER_LABEL]: deps.serverId },
          hardened: true,
          cmd: ["cat", `/probe/${marker}`],
        },
        { stdout: out, stderr: err },
      )
      .catch((e: unknown) => {
        if (e instanceof SlugforgeError && (e.code === "DOCKER_UNAVAILABLE" || e.code === "STACK_MISSING")) throw e;
        const text = e instanceof Error ? e.message : String(e);
        return /does not exist/.test(text) ? "nothing: the engine refused to mount it" : `the engine refused to mount it: ${text}`;
      });
    if (typeof code === "string") return code;
    if (code === 0 && out.text() === token) return true;
    return code === 0 ? "another file of that name" : `no such file: ${err.text().trim() || `exit ${code}`}`;
  } finally {
    await rm(`${dir}/${marker}`, { force: true });
  }
}

/**
 * Creates and starts the build container with the app's caches in place: one made ahead of time
 * when there is one for the same spec and image, else a new one. The app's earlier background work
 * (saving the caches this build starts from) is finished first.
 */
export async function openBuildContainer(
  deps: ContainerDeps,
  build: { buildId: string; app: string; commit: string },
  log: Logger,
  signal: AbortSignal,
  options: { readonly freshCache?: boolean } = {},
): Promise<OpenContainer> {
  const { runtime, caches } = deps;
  const { app, buildId } = build;
  const { mode } = await cacheModeOf(deps);
  // Layer mode: the container stays, stopped, for its caches to be renamed out of its layer.
  const spec = { ...buildContainerSpec(deps, buildId, app), ...(mode === "layer" ? { keepWhenStopped: true } : {}) };
  if (mode === "layer" && !options.freshCache) {
    // The container the app's background work makes for it can serve before that work ends.
    await caches.ready(app);
    const started = await startPrepared(deps, app, spec, signal, log);
    if (started) return started;
  }
  await caches.settled(app);
  // Another node kept this app's caches: they come from the object store (SLUGFORGE_STORAGE_URL).
  if (!options.freshCache) await caches.restore(app, buildId, log);
  await mkdir(caches.appDir(app), { recursive: true, mode: 0o700 });
  // A fresh cache (git push -o clear-cache): nothing kept goes in; what this build leaves is kept.
  const copyKept = (root: string): Promise<void> => (options.freshCache ? Promise.resolve() : caches.copyKept(app, root, log));
  if (mode === "mount") {
    const work = path.join(caches.appDir(app), `.work-${buildId}`);
    await mkdir(work, { mode: 0o755 });
    await chmod(work, 0o755);
    const copying = copyKept(work);
    copying.catch(() => undefined);
    const container = await runtime.start({ ...spec, mounts: [...(spec.mounts ?? []), { host: work, container: CACHE_ROOT, readOnly: false }] });
    return { container, cache: { mode: "mount", workDir: work, copying } };
  }
  if (mode === "tar") {
    const container = await runtime.start(spec);
    // Cancelled when the build ends before its caches are in (an early failure removes the container).
    const copy = new AbortController();
    const inside: InContainer = { ...build, stack: deps.config.stack, container, signal: AbortSignal.any([signal, copy.signal]) };
    const copying = options.freshCache ? Promise.resolve() : copyKeptIn(deps, inside, log);
    copying.catch(() => undefined);
    return { container, cache: { mode: "tar", copying, cancelCopy: () => copy.abort(new Error("the build ended")) } };
  }
  if (options.freshCache) await caches.drop(app);
  else {
    const started = await startPrepared(deps, app, spec, signal, log);
    if (started) return started;
  }
  const created = await runtime.create(spec);
  if (created.upperDir) {
    try {
      await copyKept(await cacheRootIn(created.upperDir));
    } catch (err) {
      await created.remove();
      throw err;
    }
  }
  const cache = layerCache(spec, created, false, log);
  return { container: await created.start(), cache };
}

/** Starts the container prepared for the app's next build, if there is one for this spec and image. */
async function startPrepared(deps: ContainerDeps, app: string, spec: ContainerSpec, signal: AbortSignal, log: Logger): Promise<OpenContainer | undefined> {
  const imageId = (await deps.runtime.inspectImage(spec.image))?.id;
  const prepared = await deps.caches.take(app, specKey(spec), imageId);
  if (!prepared) return undefined;
  try {
    // Started ahead of time; gone since when the engine restarted or someone removed it.
    if (prepared.running && !(await prepared.running.isRunning())) {
      await removePrepared(prepared);
      throw new Error("the container prepared for this build is no longer running");
    }
    const container = prepared.running ?? (await prepared.created.start());
    // Execs started with it (only ever with `running`) wait for the source's and the first compile's programs.
    return { container, cache: layerCache(spec, prepared.created, true, log, prepared.source, prepared.laid, prepared.standbys) };
  } catch (err) {
    // Removed behind our back (docker rm, an engine restart): a fresh one does as well.
    if (signal.aborted) throw err;
    log.warn({ err }, "the container prepared for this build could not start; making a new one");
    return undefined;
  }
}

/**
 * Tar mode: the app's kept caches into the started container's CACHE_ROOT, through its own tar
 * (as the build user). One that cannot go in is left out whole: the build starts without caches.
 */
async function copyKeptIn(deps: ContainerDeps, build: InContainer, log: Logger): Promise<void> {
  const kept = await deps.caches.keptArchive(build.app);
  if (!kept) return;
  try {
    await extractIntoBuild(build, kept.stream, CACHE_ROOT);
    const code = await kept.exited;
    if (code !== 0) throw new Error(`tar of the kept caches exited with ${code}: ${kept.stderr().trim().slice(0, 500)}`);
  } catch (err) {
    kept.cancel();
    if (build.signal.aborted) throw err;
    log.warn({ err }, "copying the kept build caches into the container failed; the build starts without them");
    const code = await runInBuild(build, ["sh", "-c", 'cd "$0" && rm -rf -- "$@"', CACHE_ROOT, ...kept.keys], buildEnv(build));
    if (code !== 0) throw new SlugforgeError("INTERNAL", `clearing a half-copied build cache failed (exit ${code})`);
  }
}

function layerCache(spec: ContainerSpec, created: CreatedContainer, prepared: boolean, log: Logger, source?: LaidSource, laid?: LaidInputs, standbys?: PreparedStandbys): CacheState {
  log.debug(
    { prepared, source: source?.commit, laid: { buildpacks: laid?.buildpacks !== undefined, env: laid?.env !== undefined }, standbys: standbys !== undefined, layer: created.upperDir !== undefined },
    "build container made",
  );
  return { mode: "layer", spec, layerDir: created.upperDir && path.join(created.upperDir, CACHE_ROOT), source, laid, standbys };
}

/** The laid /app's slug tar of a prepared container (laid-source.ts), if one is being read. */
export function laidSlugOf(cache: CacheState): Promise<LaidSlug | undefined> | undefined {
  return cache.mode === "layer" ? cache.source?.slug : undefined;
}

/** Whether, and where, a prepared container's /app lies beneath its upper layer (LaidSource.below). */
export function laidBelowOf(cache: CacheState): LaidSource["below"] {
  return cache.mode === "layer" ? cache.source?.below : undefined;
}

/** The build container's writable layer as the host sees it (layer mode on a local overlay2 engine). */
export function upperDirOf(cache: CacheState): string | undefined {
  return cache.mode === "layer" && cache.layerDir ? path.dirname(path.dirname(cache.layerDir)) : undefined;
}

/** `tmp/cache` in an upper layer, with the same owner and mode as in the stack image. */
async function cacheRootIn(upperDir: string): Promise<string> {
  const tmp = path.join(upperDir, "tmp");
  await mkdir(tmp, { mode: 0o1777 });
  await chmod(tmp, 0o1777);
  const root = path.join(tmp, "cache");
  await mkdir(root, { mode: 0o755 });
  await chown(root, BUILD_UID, BUILD_UID);
  return root;
}

/** A buildpack's CACHE_DIR: its key names the kept folder, `cacheDir` is where it is inside. */
export interface CacheSlot {
  readonly key: string;
  readonly cacheDir: string;
}

/** Makes sure each buildpack's CACHE_DIR is there before its compile (the kept ones are, already). */
export async function restoreCaches(build: InContainer, cache: CacheState, slots: readonly CacheSlot[]): Promise<void> {
  if (cache.mode === "mount") {
    await cache.copying;
    for (const slot of slots) {
      const dir = path.join(cache.workDir, slot.key);
      if (await isRealDir(dir)) continue;
      await mkdir(dir, { mode: 0o700 });
      await chown(dir, BUILD_UID, BUILD_UID);
    }
    return;
  }
  if (cache.mode === "tar") await cache.copying;
  // Caches copied into the layer before the container started are there already (seen from the
  // host, a folder the build removed would be a whiteout, not a folder); the rest are made inside,
  // as the layer is the running container's now.
  const upperDir = upperDirOf(cache);
  if (upperDir && (await Promise.all(slots.map((s) => isRealDirBeneath(upperDir, `${CACHE_IN_LAYER}/${s.key}`)))).every(Boolean)) return;
  const dirs = slots.map((s) => s.cacheDir);
  const code = await runInBuild(build, ["sh", "-c", 'for d in "$@"; do [ -d "$d" ] || mkdir -m 700 "$d"; done', "mkdirs", ...dirs], buildEnv(build));
  if (code !== 0) throw new SlugforgeError("INTERNAL", `making the cache folders failed (exit ${code})`);
}

/**
 * Keeps each buildpack's cache as a build that succeeded left it. Mount mode: renamed into place
 * now. Layer and tar modes: the caches are read out after the push has its answer (closeBuildContainer).
 */
export async function keepMountedCaches(deps: ContainerDeps, build: InContainer, cache: CacheState, slots: readonly CacheSlot[], log: Logger): Promise<void> {
  if (cache.mode !== "mount") return;
  await failpoint("cache-save", build.app, build.signal);
  for (const slot of slots) {
    await deps.caches.keep(build.app, build.buildId, path.join(cache.workDir, slot.key), slot.key).catch((err: unknown) => {
      // The slug is made; a cache that could not be kept only makes the next build slower.
      if (build.signal.aborted) throw err;
      log.warn({ err, buildpack: slot.key }, "saving the build cache failed; the previous one is kept");
    });
  }
}

/**
 * After a build: the container goes, or, for a layer- or tar-mode build whose caches are to be
 * kept (`save`), is handed to the background, which reads the caches out through the container's
 * own tar and removes it. Working copies go; in layer mode the app's next build container is
 * prepared (not once the server is stopping), with the build's commit from `next.repo` in its
 * /app, and its buildpacks and ENV_DIR, when they are given (a build that succeeded).
 */
export async function closeBuildContainer(
  deps: ContainerDeps,
  build: InContainer,
  cache: CacheState | undefined,
  save: readonly CacheSlot[] | undefined,
  log: Logger,
  nextInputs?: NextBuildInputs,
): Promise<void> {
  const { caches } = deps;
  const container = build.container;
  const saving = (cache?.mode === "layer" || cache?.mode === "tar") && save !== undefined && !build.signal.aborted;
  if (cache?.mode === "tar") {
    cache.cancelCopy();
    await cache.copying.catch(() => undefined);
  }
  const next =
    cache?.mode === "layer" && !caches.windingDown
      ? (signal: AbortSignal, fresh?: Promise<FreshCaches>) => prepareNext(deps, build.app, cache.spec, signal, log, nextInputs && { ...nextInputs, commit: build.commit }, fresh)
      : undefined;
  if (saving) {
    caches.later(build.app, (signal) => saveFromContainer(deps, build, { upperDir: upperDirOf(cache), slots: save, next }, signal, log), log, deps.config.buildTimeoutMs);
  } else {
    await container.remove().catch((err: unknown) => log.error({ err, container: container.id }, "could not remove the build container"));
    if (cache?.mode === "mount") {
      await cache.copying.catch(() => undefined);
      await rm(cache.workDir, { recursive: true, force: true });
    }
  }
  if (next && !saving) caches.later(build.app, (signal) => next(signal), log, deps.config.buildTimeoutMs);
  if (!saving) await caches.dropEmpty(build.app);
}

/** CACHE_DIRs of a build that succeeded, in the upper layer of its stopped container. */
interface FreshCaches {
  readonly upperDir: string;
  readonly keys: readonly string[];
  readonly container: Container;
  /** Keys moved (not copied) into the next container, for a build that waited for it: nothing of them is left to keep. */
  readonly moved: Set<string>;
}

/**
 * The caches of a build that succeeded, kept, and the app's next build container made (`next`).
 * With the container's upper layer (`upperDir`) on the data folder's filesystem, the container is
 * stopped, the next one made with the caches copied straight from its layer (the app's next build
 * can start then), and a job of its own renames each CACHE_DIR out of the layer into the kept
 * folder (keepFromLayer). Else each comes out through the container's own tar and the next
 * container gets the kept caches. The container is removed after.
 */
async function saveFromContainer(
  deps: ContainerDeps,
  build: InContainer,
  work: { readonly upperDir: string | undefined; readonly slots: readonly CacheSlot[]; readonly next?: (signal: AbortSignal, fresh?: Promise<FreshCaches>) => Promise<void> },
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const { caches } = deps;
  const { upperDir, slots, next } = work;
  // Given up on (too slow): removing the container ends the tar being read from it.
  const onAbort = (): void => void build.container.remove().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  const prepare = (fresh?: Promise<FreshCaches>): Promise<void> | undefined =>
    next?.(signal, fresh).catch((err: unknown) => {
      if (signal.aborted) throw err;
      log.warn({ err }, "making the app's next build container failed; its next build makes one");
    });
  let handedOn = false;
  try {
    await failpoint("cache-save", build.app, signal);
    if (upperDir && (await caches.renamesFrom(upperDir, build.app))) {
      // Nothing may move files out of a mounted overlay, nor may anything in it move them meanwhile.
      // The next container is made while this one stops; its caches go in once it has.
      const moved = new Set<string>();
      const stopped = build.container.stop().then((): FreshCaches => ({ upperDir, keys: slots.map((s) => s.key), container: build.container, moved }));
      stopped.catch(() => undefined);
      await Promise.all([stopped, prepare(stopped)]);
      // The app's next build has its caches: keeping them is a job of its own, which waits (as
      // every job does) until no build needs the cores, or the app's next build needs it done.
      const toKeep = slots.filter((s) => !moved.has(s.key));
      caches.later(build.app, (keeping) => keepFromLayer(deps, build, upperDir, toKeep, keeping, log), log, deps.config.buildTimeoutMs);
      handedOn = true;
      return;
    }
    for (const slot of slots) await caches.keepFromContainer(build, slot.cacheDir, slot.key).catch(failed(log, slot));
    await build.container.remove();
    await prepare();
  } finally {
    signal.removeEventListener("abort", onAbort);
    // Its layer holds nothing kept any more: the app's next container need not wait for it to go.
    if (signal.aborted) await build.container.remove();
    else if (!handedOn) caches.behind(build.container.remove());
  }
}

/** Each CACHE_DIR of a stopped build container renamed (or copied) out of its layer into the kept folder; the container removed after. */
async function keepFromLayer(deps: ContainerDeps, build: InContainer, upperDir: string, slots: readonly CacheSlot[], signal: AbortSignal, log: Logger): Promise<void> {
  const onAbort = (): void => void build.container.remove().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (const slot of slots) {
      signal.throwIfAborted();
      await deps.caches.keepFromLayer(build, upperDir, `${CACHE_IN_LAYER}/${slot.key}`, slot.key, log).catch(failed(log, slot));
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    if (signal.aborted) await build.container.remove();
    else deps.caches.behind(build.container.remove());
  }
}

function failed(log: Logger, slot: CacheSlot): (err: unknown) => void {
  return (err) => log.warn({ err, buildpack: slot.key }, "saving the build cache failed; the previous one is kept");
}

/**
 * Copies the CACHE_DIRs of `fresh` (a stopped container's layer) into `root`, each only where
 * every folder on the way to it is one; the keys copied. What the copy may have read while the
 * container was being removed is not used.
 *
 * Once the app's next build waits for this container (`wanted`), a cache still to copy, or being
 * copied, is moved instead: renamed from the old layer into the new one (both in the engine's data
 * root), which takes no time, where the copy takes up to a second. The kept folder then stays as
 * it was (the build before this one's caches) until a build succeeds again, and only if that next
 * build fails does the one after it start from those older caches.
 */
async function copyFreshIn(fresh: FreshCaches, root: string, log: Logger, wanted: Promise<void>): Promise<Set<string>> {
  const copied = new Set<string>();
  let waitedFor = false;
  void wanted.then(() => (waitedFor = true));
  for (const key of fresh.keys) {
    const rel = `${CACHE_IN_LAYER}/${key}`;
    if (!(await isRealDirBeneath(fresh.upperDir, rel))) continue;
    const from = path.join(fresh.upperDir, rel);
    const to = path.join(root, key);
    const copy = (signal?: AbortSignal): Promise<{ code: number; stderr: string }> => runProcess("cp", ["-a", "-T", "--", from, to], { signal });
    let done: { code: number; stderr: string } | undefined;
    if (!waitedFor) {
      const stop = new AbortController();
      const copying = copy(stop.signal).catch((err: unknown) => ({ code: -1, stderr: String(err) }));
      const first = await Promise.race([copying, wanted.then(() => undefined)]);
      if (first === undefined) {
        stop.abort();
        await copying;
        log.debug({ buildpack: key }, "the app's next build waits: copying its cache stopped");
      } else done = first;
    }
    if (done === undefined) {
      if (await moveFresh(fresh, from, to, key)) {
        fresh.moved.add(key);
        log.debug({ buildpack: key }, "the app's next build waits: its cache moved into its container, not copied");
        done = { code: 0, stderr: "" };
      } else done = await copy();
    }
    if (done.code === 0) await clearSetId(to).then(() => copied.add(key), () => undefined);
    if (!copied.has(key)) {
      log.warn({ buildpack: key, stderr: done.stderr.slice(0, 2000) }, "copying the build's cache into the next container failed; it gets the kept one");
      await rm(to, { recursive: true, force: true });
    }
  }
  if (!(await fresh.container.isStopped())) throw new Error("the build container was removed while its caches were copied out of it");
  return copied;
}

/**
 * The cache at `from` (the stopped layer) renamed to `to` (the next container's layer); a half
 * copy already at `to` is first put aside in the stopped layer, which goes with its container.
 * False when either rename fails (the layers on two mounts, say): the caller copies after all.
 */
async function moveFresh(fresh: FreshCaches, from: string, to: string, key: string): Promise<boolean> {
  try {
    await rename(to, path.join(fresh.upperDir, "tmp", `.partial-${key}-${randomBytes(4).toString("hex")}`)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
    await rename(from, to);
    return true;
  } catch {
    return false;
  }
}

/** What a build that succeeded leaves in the app's next container, besides its caches. */
export interface NextBuildInputs {
  /** Where its commit is read. */
  readonly repo: SourceRef;
  /** The buildpacks it installed, and their key (laid-inputs.ts). */
  readonly buildpacks?: { readonly copies: readonly BuildpackCopy[]; readonly key: string };
  /** The config vars of its ENV_DIR. */
  readonly configVars?: Readonly<Record<string, string>>;
}

/**
 * A container for the app's next build, its caches already in its layer, and `source` (the last
 * built commit) in its /app where that can be unpacked (without it, the next build unpacks all),
 * and the last build's buildpacks and ENV_DIR (without them, the next build copies them in).
 */
async function prepareNext(
  deps: ContainerDeps,
  app: string,
  buildSpec: ContainerSpec,
  signal: AbortSignal,
  log: Logger,
  source?: NextBuildInputs & { readonly commit: string },
  fresh?: Promise<FreshCaches>,
): Promise<void> {
  const { runtime, caches } = deps;
  // Where the making's time goes, for the log (a build waiting for this container waits for all of it).
  const { ms, mark } = createMarks();
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(buildSpec.labels ?? {})) if (k === SERVER_LABEL) labels[k] = v;
  const spec: ContainerSpec = { ...buildSpec, name: undefined, labels: { ...labels, [PREPARED_LABEL]: app } };
  const imageId = (await runtime.inspectImage(spec.image))?.id;
  const created = await runtime.create(spec);
  mark("created");
  const onAbort = (): void => void created.remove().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  let laid: LaidSource | undefined;
  let inputs: LaidInputs | undefined;
  let running: Container | undefined;
  let standbys: PreparedStandbys | undefined;
  // Stopped when a build takes the container before the laid /app is read as a slug tar.
  const recording = new AbortController();
  try {
    await failpoint("cache-copy", app, signal);
    if (!created.upperDir) throw new Error("the engine gave no writable layer");
    const upperDir = created.upperDir;
    const root = await cacheRootIn(upperDir);
    // Beneath the upper layer where the engine has a layer there of the container's own: the upper one then holds only what the build changes.
    const appLayer = created.initDir ?? upperDir;
    // The last built commit goes into /app while the caches go in.
    const laying = source
      ? laySource(appLayer, source.repo, source.commit, signal).catch((err: unknown) => {
          if (signal.aborted) throw err;
          log.warn({ err, commit: source.commit }, "could not unpack the last built commit into the prepared container; the next build unpacks its source whole");
          return undefined;
        })
      : Promise.resolve(undefined);
    void laying.then(() => mark("sourceLaid"), () => undefined);
    // Its buildpacks and ENV_DIR too: each one that fails is left to the next build.
    const optional = <T>(what: string, work: Promise<T>): Promise<T | undefined> =>
      work.catch((err: unknown) => {
        if (signal.aborted) throw err;
        log.warn({ err }, `could not lay the last build's ${what} in the prepared container; the next build copies them in`);
        return undefined;
      });
    const buildpacks = source?.buildpacks;
    const layingInputs = Promise.all([
      buildpacks ? optional("buildpacks", layBuildpacks(upperDir, buildpacks.copies, signal).then(() => buildpacks.key)) : undefined,
      source?.configVars ? optional("ENV_DIR", layEnv(upperDir, source.configVars, signal)) : undefined,
    ]);
    const copying = (async () => {
      // The caches the last build left, straight from its stopped layer; the kept ones for the rest.
      let copied: Set<string> | undefined;
      if (fresh) {
        const waiting = caches.whenWanted(app);
        try {
          const stopped = await fresh;
          mark("lastStopped");
          copied = await copyFreshIn(stopped, root, log, waiting.wanted);
        } finally {
          waiting.stop();
        }
      }
      await caches.copyKept(app, root, log, copied);
      mark("cachesIn");
    })();
    // Both end before the container may go (a failed copy waits for the unpacking to stop).
    const [laidResult, copyResult, inputsResult] = await Promise.allSettled([laying, copying, layingInputs]);
    if (copyResult.status === "rejected") throw copyResult.reason;
    if (laidResult.status === "rejected") throw laidResult.reason;
    if (inputsResult.status === "rejected") throw inputsResult.reason;
    laid = laidResult.value;
    const [buildpacksKey, env] = inputsResult.value;
    inputs = { buildpacks: buildpacksKey, env };
    signal.throwIfAborted();
    const folders = laid && deps.config.laidSlug !== false && (await laidFolders(appLayer).catch((err: unknown) => void log.warn({ err }, "could not read the laid /app's folders; the next slug reads /app whole")));
    // Nothing changes the laid /app after this but the build, which begins once the container is
    // offered, 20 ms or more later: whatever the clock's tick, a change it makes has a later ctime (laid-slug.ts).
    const since = Date.now() + 1;
    // Started now, with all in its layer, so the next build finds it running (a failed start removes it).
    mark("laid");
    running = await created.start();
    mark("started");
    signal.throwIfAborted();
    if (laid && created.initDir) laid = { ...laid, below: await belowAt(created.mergedDir, log) };
    if (folders) await sleep(Math.max(0, since + 20 - Date.now()), undefined, { signal });
    if (laid && folders) {
      const slug = recordLaidSlug(appLayer, since, folders, AbortSignal.any([signal, recording.signal]), { minFreeBytes: deps.config.minFreeBytes }, path.dirname(upperDir)).catch((err: unknown) => {
        if (recording.signal.aborted) log.debug("the next build took the prepared container before its laid /app was read as a slug tar; its slug reads /app whole");
        else if (!signal.aborted) log.warn({ err }, "could not read the laid /app as a slug tar; the next slug reads /app whole");
        return undefined;
      });
      laid = { ...laid, slug };
    }
    // With execs waiting in it for the build's source update and first compile: they end with it.
    standbys = preparedStandbys(running);
  } catch (err) {
    await created.remove();
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  await caches.offer(app, { created, specKey: specKey(spec), imageId, source: laid, laid: inputs, running, standbys, onTaken: () => recording.abort() });
  mark("offered");
  log.debug({ ms }, "the app's next container made");
  // The app's background work ends once the laid slug tar is read (a build may take the container before).
  await laid?.slug;
}

/**
 * Where /app laid beneath the upper layer is read whole: the container's mounted root, when this
 * host sees it there (an engine in a mount namespace of its own would keep it from the host's view).
 */
async function belowAt(mergedDir: string | undefined, log: Logger): Promise<{ readonly merged?: string }> {
  if (mergedDir && (await isRealDirBeneath(mergedDir, BUILD_DIR.slice(1)))) return { merged: mergedDir };
  log.warn({ mergedDir }, "the prepared container's root is not seen mounted on this host: its /app is read through the engine");
  return {};
}

/** What must be equal for a prepared container to serve a build: the spec but its name and labels. */
function specKey(spec: ContainerSpec): string {
  return JSON.stringify({ ...spec, name: undefined, labels: undefined });
}
