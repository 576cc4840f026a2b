import { chmod, chown, lstat, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config/parse-config.js";
import type { Container, ContainerRuntime, ContainerSpec, CreatedContainer } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { failpoint } from "../util/failpoints.js";
import type { BuildCaches } from "./build-caches.js";
import { BUILD_DIR, BUILD_LABEL, BUILD_UID, BUILD_USER, buildEnv, runInBuild, SERVER_LABEL, type InContainer } from "./container-exec.js";

/*
 * A build container's life, in one place: made (or taken from those made ahead of time) with the
 * app's caches in place, used by the build session, then removed, or handed to the background
 * that saves its caches and makes the app's next container.
 *
 * "layer" mode (a local engine with overlay2, the usual case): the kept caches are copied straight
 * into a created, not yet started container's writable layer. Inside, CACHE_DIR is then on the
 * same filesystem and mount as /app, so a buildpack can hard-link between them (the Python
 * buildpack links its cached environment into /app instead of copying it). After a build that
 * succeeded the server, off the push's path, reads the caches out through the container's own tar
 * and makes the app's next build container with the caches already in its layer; the next push
 * only starts it.
 *
 * "mount" mode (anything else): the copy is a folder of its own, `<cacheDir>/<app>/.work-<build>`,
 * made while the source goes in and bind-mounted at /tmp/cache; keeping it renames it into place.
 */

/** Where CACHE_DIRs are inside the build container: `/tmp/cache/<buildpack key>`. */
export const CACHE_ROOT = "/tmp/cache";
/** Labels a container made ahead of time for an app's next build. */
export const PREPARED_LABEL = "org.slugforge.prepared-for";

/** How a build gets its caches, once its container is open. */
export type CacheState =
  | { readonly mode: "layer"; readonly spec: ContainerSpec; readonly layerDir?: string }
  | { readonly mode: "mount"; readonly workDir: string; readonly copying: Promise<void> };

export interface ContainerDeps {
  readonly runtime: ContainerRuntime;
  readonly caches: BuildCaches;
  readonly config: Pick<Config, "stack" | "buildNetwork" | "buildMounts" | "buildMemoryBytes" | "buildCpus" | "buildPids" | "buildTimeoutMs">;
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
 * Creates and starts the build container with the app's caches in place: one made ahead of time
 * when there is one for the same spec and image, else a new one. The app's earlier background work
 * (saving the caches this build starts from) is finished first.
 */
export async function openBuildContainer(
  deps: ContainerDeps,
  build: { buildId: string; app: string },
  log: Logger,
  signal: AbortSignal,
  options: { readonly freshCache?: boolean } = {},
): Promise<OpenContainer> {
  const { runtime, caches } = deps;
  const { app, buildId } = build;
  const spec = buildContainerSpec(deps, buildId, app);
  await caches.settled(app);
  await mkdir(caches.appDir(app), { recursive: true, mode: 0o700 });
  // A fresh cache (git push -o clear-cache): nothing kept goes in; what this build leaves is kept.
  const copyKept = (root: string): Promise<void> => (options.freshCache ? Promise.resolve() : caches.copyKept(app, root, log));
  if (!(await runtime.layerAccess())) {
    const work = path.join(caches.appDir(app), `.work-${buildId}`);
    await mkdir(work, { mode: 0o755 });
    await chmod(work, 0o755);
    const copying = copyKept(work);
    copying.catch(() => undefined);
    const container = await runtime.start({ ...spec, mounts: [...(spec.mounts ?? []), { host: work, container: CACHE_ROOT, readOnly: false }] });
    return { container, cache: { mode: "mount", workDir: work, copying } };
  }
  const imageId = (await runtime.inspectImage(spec.image))?.id;
  const prepared = await caches.take(app, specKey(spec), imageId);
  if (prepared && options.freshCache) await prepared.remove();
  else if (prepared) {
    try {
      const container = await prepared.start();
      return { container, cache: layerCache(spec, prepared, true, log) };
    } catch (err) {
      // Removed behind our back (docker rm, an engine restart): a fresh one does as well.
      if (signal.aborted) throw err;
      log.warn({ err }, "the container prepared for this build could not start; making a new one");
    }
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

function layerCache(spec: ContainerSpec, created: CreatedContainer, prepared: boolean, log: Logger): CacheState {
  log.debug({ prepared, layer: created.upperDir !== undefined }, "build container made");
  return { mode: "layer", spec, layerDir: created.upperDir && path.join(created.upperDir, CACHE_ROOT) };
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
      if (await lstat(dir).then((s) => s.isDirectory(), () => false)) continue;
      await mkdir(dir, { mode: 0o700 });
      await chown(dir, BUILD_UID, BUILD_UID);
    }
    return;
  }
  // Caches copied into the layer before the container started are there already (seen from the
  // host, a folder the build removed would be a whiteout, not a folder); the rest are made inside,
  // as the layer is the running container's now.
  const layerDir = cache.layerDir;
  if (layerDir && (await Promise.all(slots.map((s) => isRealDirBeneath(layerDir, s.key)))).every(Boolean)) return;
  const dirs = slots.map((s) => s.cacheDir);
  const code = await runInBuild(build, ["sh", "-c", 'for d in "$@"; do [ -d "$d" ] || mkdir -m 700 "$d"; done', "mkdirs", ...dirs], buildEnv(build));
  if (code !== 0) throw new SlugforgeError("INTERNAL", `making the cache folders failed (exit ${code})`);
}

/**
 * Keeps each buildpack's cache as a build that succeeded left it. Mount mode: renamed into place
 * now. Layer mode: the caches are read out after the push has its answer (closeBuildContainer).
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
 * After a build: the container goes, or, for a layer-mode build whose caches are to be kept
 * (`save`), is handed to the background, which reads the caches out through the container's own
 * tar and removes it. Working copies go; in layer mode the app's next build container is prepared.
 */
export async function closeBuildContainer(
  deps: ContainerDeps,
  build: InContainer,
  cache: CacheState | undefined,
  save: readonly CacheSlot[] | undefined,
  log: Logger,
): Promise<void> {
  const { caches } = deps;
  const container = build.container;
  const saving = cache?.mode === "layer" && save !== undefined && !build.signal.aborted;
  if (saving) {
    caches.later(build.app, (signal) => saveFromContainer(deps, build, save, signal, log), log, deps.config.buildTimeoutMs);
  } else {
    await container.remove().catch((err: unknown) => log.error({ err, container: container.id }, "could not remove the build container"));
    if (cache?.mode === "mount") {
      await cache.copying.catch(() => undefined);
      await rm(cache.workDir, { recursive: true, force: true });
    }
  }
  if (cache?.mode === "layer") caches.later(build.app, (signal) => prepareNext(deps, build.app, cache.spec, signal, log), log, deps.config.buildTimeoutMs);
  if (!saving) await caches.dropEmpty(build.app);
}

async function saveFromContainer(deps: ContainerDeps, build: InContainer, slots: readonly CacheSlot[], signal: AbortSignal, log: Logger): Promise<void> {
  // Given up on (too slow): removing the container ends the tar being read from it.
  const onAbort = (): void => void build.container.remove().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await failpoint("cache-save", build.app, signal);
    for (const slot of slots) {
      await deps.caches.keepFromContainer(build, slot.cacheDir, slot.key).catch((err: unknown) =>
        log.warn({ err, buildpack: slot.key }, "saving the build cache failed; the previous one is kept"),
      );
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    await build.container.remove();
  }
}

/** A container for the app's next build, its caches already in its layer. */
async function prepareNext(deps: ContainerDeps, app: string, buildSpec: ContainerSpec, signal: AbortSignal, log: Logger): Promise<void> {
  const { runtime, caches } = deps;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(buildSpec.labels ?? {})) if (k === SERVER_LABEL) labels[k] = v;
  const spec: ContainerSpec = { ...buildSpec, name: undefined, labels: { ...labels, [PREPARED_LABEL]: app } };
  const imageId = (await runtime.inspectImage(spec.image))?.id;
  const created = await runtime.create(spec);
  const onAbort = (): void => void created.remove().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await failpoint("cache-copy", app, signal);
    if (!created.upperDir) throw new Error("the engine gave no writable layer");
    await caches.copyKept(app, await cacheRootIn(created.upperDir), log);
    signal.throwIfAborted();
  } catch (err) {
    await created.remove();
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  await caches.offer(app, { created, specKey: specKey(spec), imageId });
}

/** What must be equal for a prepared container to serve a build: the spec but its name and labels. */
function specKey(spec: ContainerSpec): string {
  return JSON.stringify({ ...spec, name: undefined, labels: undefined });
}

/**
 * Whether `root/name` and every folder on the way to it (from the layer's top) is a real folder:
 * lstat on each, so a link the build put on the way is never followed from the host. Only ever
 * used to decide whether a mkdir inside is needed; nothing is read through it.
 */
async function isRealDirBeneath(root: string, name: string): Promise<boolean> {
  // root is <upperDir>/tmp/cache: check tmp and cache too.
  const upper = path.dirname(path.dirname(root));
  let at = upper;
  for (const part of [...path.relative(upper, root).split(path.sep), name]) {
    at = path.join(at, part);
    if (!(await lstat(at).then((s) => s.isDirectory(), () => false))) return false;
  }
  return true;
}
