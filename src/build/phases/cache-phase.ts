import { chmod, chown, lstat, mkdir, readdir, rename, rm, rmdir } from "node:fs/promises";
import { spawn } from "node:child_process";
import path from "node:path";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Container, ContainerSpec, CreatedContainer } from "../../docker/container-runtime.js";
import { SlugforgeError } from "../../errors.js";
import { discardDir, sweepDiscarded } from "../../util/discard-dir.js";
import { failpoint } from "../../util/failpoints.js";
import { runProcess } from "../../util/run-process.js";
import type { BuildContext, PipelineDeps, Phase } from "../build-context.js";
import { archiveFromBuild, BUILD_UID, buildEnv, runInBuild, SERVER_LABEL } from "../container-exec.js";

/** Where CACHE_DIRs are inside the build container: `/tmp/cache/<buildpack key>`. */
export const CACHE_ROOT = "/tmp/cache";
/** Labels a container made ahead of time for an app's next build. */
export const PREPARED_LABEL = "org.slugforge.prepared-for";

/*
 * CACHE_DIR per app and buildpack, kept on the host as a folder: `<cacheDir>/<app>/<key>/`. A build
 * never works on the kept folder itself, only on a copy, and only a build that has fully
 * succeeded replaces it, so a failed build never touches it.
 *
 * "layer" mode (a local engine with overlay2, the usual case): the copy is put straight into the
 * build container's own writable layer before it starts. Inside, CACHE_DIR is then on the same
 * filesystem and mount as /app, so a buildpack can hard-link between them (the Python buildpack
 * links its cached environment into /app instead of copying it). After a build the server, off
 * the push's path, stops the container, copies the cache out as the new kept folder, and makes the
 * app's next build container with the cache already in its layer; the next push only starts it.
 *
 * "mount" mode (anything else): the copy is a folder of its own, `<cacheDir>/<app>/.work-<build>`,
 * made while the source goes in and bind-mounted at /tmp/cache; saving renames it into place.
 *
 * Nothing the build left is ever read by following a path from the host: in layer mode the caches
 * come back through the container's own tar (a build that swaps /tmp/cache for a link to a host
 * path only points at its own container's files), in mount mode the bind-mounted folder is renamed
 * and its entries are checked with lstat. Otherwise the host only copies, renames and deletes
 * these trees (cp -a, rename, rm -r, none of which follow the symbolic links a build may leave)
 * and never reads or runs what is in them; a cache "folder" that turns out to be anything but a
 * folder is not kept.
 */

interface Prepared {
  readonly created: CreatedContainer;
  readonly specKey: string;
  readonly imageId: string | undefined;
}

/**
 * One build service's background cache work and prepared containers. Background work yields to
 * builds: it starts only while no build runs or waits (so a burst of pushes is not slowed by
 * copies of caches for later builds), except for an app whose next build is starting and needs it.
 */
export class BuildCaches {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly prepared = new Map<string, Prepared>();
  private readonly urgent = new Set<string>();
  private jobs = 0;

  constructor(private readonly busy: () => boolean = () => false) {}

  /**
   * Runs `job` after the app's earlier background work, off the caller's path. A job that takes
   * longer than `timeoutMs` is aborted (its signal) and given up on, so that a hung copy never
   * holds the app's next build: that build starts without it.
   */
  later(app: string, job: (signal: AbortSignal) => Promise<void>, log: BuildContext["log"], timeoutMs: number): void {
    this.jobs++;
    const next = (this.chains.get(app) ?? Promise.resolve())
      .then(() => this.quiet(app))
      .then(() => withDeadline(job, timeoutMs))
      .catch((err: unknown) => log.warn({ err }, "background cache work failed; the app's next build may be slower"))
      .finally(() => {
        this.jobs--;
        if (this.chains.get(app) === next) this.chains.delete(app);
      });
    this.chains.set(app, next);
  }

  /** Background jobs queued or running (for /metrics). */
  pending(): number {
    return this.jobs;
  }

  /** Resolves once the app's background work is done (starting it now if it was waiting for a free slot). */
  async settled(app: string): Promise<void> {
    this.urgent.add(app);
    try {
      await this.chains.get(app);
    } finally {
      this.urgent.delete(app);
    }
  }

  private async quiet(app: string): Promise<void> {
    while (this.busy() && !this.urgent.has(app)) await new Promise((resolve) => setTimeout(resolve, 100));
  }

  offer(app: string, prepared: Prepared): Promise<void> {
    const old = this.prepared.get(app);
    this.prepared.set(app, prepared);
    return old ? old.created.remove() : Promise.resolve();
  }

  /** The container prepared for the app, if it was made from the same spec and image; another is removed. */
  async take(app: string, specKey: string, imageId: string | undefined): Promise<CreatedContainer | undefined> {
    const found = this.prepared.get(app);
    this.prepared.delete(app);
    if (!found) return undefined;
    if (found.specKey === specKey && found.imageId === imageId) return found.created;
    await found.created.remove();
    return undefined;
  }

  /**
   * Forgets a deleted app: waits for its background work, removes its prepared container and its
   * kept caches (`<cacheDir>/<app>`).
   */
  async forget(app: string, cacheDir: string): Promise<void> {
    await this.settled(app);
    const prepared = this.prepared.get(app);
    this.prepared.delete(app);
    await prepared?.created.remove();
    await discardDir(path.join(cacheDir, app));
  }

  /** Resolves once there is no background work left. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /** Waits for all background work and removes the prepared containers (server shutdown). */
  async close(): Promise<void> {
    await this.idle();
    const all = [...this.prepared.values()];
    this.prepared.clear();
    await Promise.all(all.map((p) => p.created.remove().catch(() => undefined)));
  }
}

/** Runs `job` with a signal aborted after `ms`; rejects at the deadline even if the job does not stop. */
async function withDeadline(job: (signal: AbortSignal) => Promise<void>, ms: number): Promise<void> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`background cache work took longer than ${Math.round(ms / 1000)} s and was given up`);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    await Promise.race([job(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const registries = new WeakMap<PipelineDeps, BuildCaches>();

/** The BuildCaches of a build service (one per PipelineDeps). */
export function cachesOf(deps: PipelineDeps): BuildCaches {
  let caches = registries.get(deps);
  if (!caches) {
    caches = new BuildCaches(() => deps.busy?.() ?? false);
    registries.set(deps, caches);
  }
  return caches;
}

/**
 * Creates and starts the build container with the app's caches in place (see above): a prepared
 * one when there is one for the same spec and image, else a new one.
 */
export async function openBuildContainer(ctx: BuildContext, spec: ContainerSpec): Promise<Container> {
  const { runtime } = ctx.deps;
  const caches = cachesOf(ctx.deps);
  const app = ctx.request.app;
  await caches.settled(app);
  await mkdir(appCacheDir(ctx), { recursive: true, mode: 0o700 });
  if (!(await runtime.layerAccess())) {
    const work = path.join(appCacheDir(ctx), `.work-${ctx.buildId}`);
    await mkdir(work, { mode: 0o755 });
    await chmod(work, 0o755);
    const copying = copyKept(ctx, work);
    copying.catch(() => undefined);
    ctx.cache = { mode: "mount", workDir: work, copying };
    return runtime.start({ ...spec, mounts: [...(spec.mounts ?? []), { host: work, container: CACHE_ROOT, readOnly: false }] });
  }
  const key = specKey(spec);
  const imageId = (await runtime.inspectImage(spec.image))?.id;
  const prepared = await caches.take(app, key, imageId);
  if (prepared) {
    try {
      const container = await prepared.start();
      useLayer(ctx, spec, prepared, true);
      return container;
    } catch (err) {
      // Removed behind our back (docker rm, an engine restart): a fresh one does as well.
      if (ctx.signal.aborted) throw err;
      ctx.log.warn({ err }, "the container prepared for this build could not start; making a new one");
    }
  }
  const created = await runtime.create(spec);
  if (created.upperDir) {
    try {
      await copyKept(ctx, await cacheRootIn(created.upperDir));
    } catch (err) {
      await created.remove();
      throw err;
    }
  }
  useLayer(ctx, spec, created, false);
  return created.start();
}

function useLayer(ctx: BuildContext, spec: ContainerSpec, created: CreatedContainer, prepared: boolean): void {
  ctx.cache = { mode: "layer", spec, layerDir: created.upperDir && path.join(created.upperDir, CACHE_ROOT) };
  ctx.log.debug({ prepared, layer: created.upperDir !== undefined }, "build container made");
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

/** Copies every kept cache of the app into `root` (a cache that cannot be copied is left out, with a warning). */
async function copyKept(ctx: BuildContext, root: string): Promise<void> {
  for (const key of await keptKeys(ctx)) {
    const copied = await runProcess("cp", ["-a", "-T", path.join(appCacheDir(ctx), key), path.join(root, key)]);
    if (copied.code !== 0) {
      ctx.log.warn({ buildpack: key, stderr: copied.stderr.slice(0, 2000) }, "copying the kept build cache failed; the build starts without it");
      await rm(path.join(root, key), { recursive: true, force: true });
    }
  }
}

async function keptKeys(ctx: BuildContext): Promise<string[]> {
  const entries = await readdir(appCacheDir(ctx), { withFileTypes: true }).catch(() => []);
  return entries.filter((d) => d.isDirectory() && !d.name.startsWith(".")).map((d) => d.name);
}

export const cacheRestorePhase: Phase = {
  name: "cache-restore",
  async run(ctx) {
    const cache = ctx.cache;
    if (!cache) throw new SlugforgeError("INTERNAL", `build ${ctx.buildId}: no cache plan`);
    if (cache.mode === "mount") {
      await cache.copying;
      for (const bp of ctx.buildpacks) {
        const dir = path.join(cache.workDir, bp.key);
        if (await isDir(dir)) continue;
        await mkdir(dir, { mode: 0o700 });
        await chown(dir, BUILD_UID, BUILD_UID);
      }
      return;
    }
    // Caches copied into the layer before the container started are there already (seen from the
    // host, a folder the build removed would be a whiteout, not a folder); the rest are made inside,
    // as the layer is the running container's now.
    const layerDir = cache.layerDir;
    if (layerDir && (await Promise.all(ctx.buildpacks.map((b) => isRealDirBeneath(layerDir, b.key)))).every(Boolean)) return;
    const dirs = ctx.buildpacks.map((b) => b.cacheDir);
    const code = await runInBuild(ctx, ["sh", "-c", 'for d in "$@"; do [ -d "$d" ] || mkdir -m 700 "$d"; done', "mkdirs", ...dirs], buildEnv(ctx));
    if (code !== 0) throw new SlugforgeError("INTERNAL", `making the cache folders failed (exit ${code})`);
  },
};

/**
 * Keeps each buildpack's cache as this build left it. In mount mode: renames. In layer mode the
 * build is handed over: the pipeline leaves the container to saveFromLayer, which runs after the
 * push has its answer. Either way this is the last phase.
 */
export const cacheSavePhase: Phase = {
  name: "cache-save",
  async run(ctx) {
    const cache = ctx.cache;
    if (!cache) throw new SlugforgeError("INTERNAL", `build ${ctx.buildId}: no cache plan`);
    if (cache.mode === "layer") {
      cache.save = true;
      return;
    }
    await failpoint("cache-save", ctx.request.app, ctx.signal);
    for (const bp of ctx.buildpacks) {
      await keep(ctx, path.join(cache.workDir, bp.key), bp.key).catch((err: unknown) => {
        // The slug is made; a cache that could not be kept only makes the next build slower.
        if (ctx.signal.aborted) throw err;
        ctx.log.warn({ err, buildpack: bp.key }, "saving the build cache failed; the previous one is kept");
      });
    }
  },
};

/**
 * After the pipeline: the container goes (or, for a layer-mode build that saves its cache, is
 * handed to the background, which saves from its layer and removes it), working copies go, and in
 * layer mode the app's next build container is prepared.
 */
export async function finishBuildCaches(ctx: BuildContext, container: Container | undefined): Promise<void> {
  const cache = ctx.cache;
  const caches = cachesOf(ctx.deps);
  const saving = cache?.mode === "layer" && cache.save === true && container !== undefined && !ctx.signal.aborted;
  if (saving) {
    caches.later(ctx.request.app, (signal) => saveFromLayer(ctx, container, signal), ctx.log, ctx.deps.config.buildTimeoutMs);
  } else {
    await container?.remove().catch((err: unknown) => ctx.log.error({ err, container: container.id }, "could not remove the build container"));
    if (cache?.mode === "mount") {
      await cache.copying.catch(() => undefined);
      await rm(cache.workDir, { recursive: true, force: true });
    }
  }
  if (cache?.mode === "layer") caches.later(ctx.request.app, (signal) => prepareNext(ctx, signal), ctx.log, ctx.deps.config.buildTimeoutMs);
  // An app whose first build failed keeps nothing, not even an empty folder.
  if (!saving) await rmdir(appCacheDir(ctx)).catch(() => undefined);
}

/**
 * Saves the caches of a succeeded layer-mode build, after the push has its answer. Each CACHE_DIR
 * is read through the container's own view (its tar over exec, run as the build user), never by
 * following paths in its layer from the host: a build that swapped `/tmp/cache` or a cache folder
 * for a symbolic link can only ever point at its own container's files.
 */
async function saveFromLayer(ctx: BuildContext, container: Container, signal: AbortSignal): Promise<void> {
  // Given up on (too slow): removing the container ends the tar being read from it.
  const onAbort = (): void => void container.remove().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await failpoint("cache-save", ctx.request.app, signal);
    for (const bp of ctx.buildpacks) {
      await keepFromContainer(ctx, bp.cacheDir, bp.key).catch((err: unknown) =>
        ctx.log.warn({ err, buildpack: bp.key }, "saving the build cache failed; the previous one is kept"),
      );
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    await container.remove();
  }
}

/**
 * `dir` of the build container (a CACHE_DIR) as the kept cache `key`: its tar (made inside, as the
 * build user) unpacked on the host by GNU tar, which refuses names with `..`, strips leading `/`
 * and makes links that point outside the tree only after everything else (so nothing is written
 * through them); set-id bits are dropped. What arrives must be a folder, not a link to one.
 */
async function keepFromContainer(ctx: BuildContext, dir: string, key: string): Promise<void> {
  await mkdir(appCacheDir(ctx), { recursive: true, mode: 0o700 });
  const work = path.join(appCacheDir(ctx), `.tmp-${ctx.buildId}-${key}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { mode: 0o700 });
  try {
    // --ignore-zeros: read to the end of the stream (the record padding after the end of the archive too).
    const unpack = spawnTar(["-x", "-f", "-", "--ignore-zeros", "--same-owner", "--numeric-owner", "--no-overwrite-dir", "-C", work]);
    await pipeline(archiveFromBuild(ctx, dir), unpack.stdin);
    const code = await unpack.exited;
    if (code !== 0) throw new Error(`unpacking the cache failed (tar exited with ${code}): ${unpack.stderr().trim().slice(0, 500)}`);
    const clearSetId = await runProcess("find", [work, "-type", "f", "-perm", "/6000", "-exec", "chmod", "ug-s", "{}", "+"]);
    if (clearSetId.code !== 0) throw new Error(`clearing set-id bits failed: ${clearSetId.stderr.slice(0, 500)}`);
    await keep(ctx, path.join(work, path.posix.basename(dir)), key);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** GNU tar on the host, its exit code and the start of its stderr. */
function spawnTar(args: readonly string[]): { stdin: Writable; exited: Promise<number>; stderr(): string } {
  const child = spawn("tar", [...args], { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    if (stderr.length < 4096) stderr += b.toString("utf8");
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
  exited.catch(() => undefined);
  return { stdin: child.stdin, exited, stderr: () => stderr };
}

/** A container for the app's next build, its caches already in its layer. */
async function prepareNext(ctx: BuildContext, signal: AbortSignal): Promise<void> {
  const cache = ctx.cache;
  if (cache?.mode !== "layer") return;
  const { runtime } = ctx.deps;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(cache.spec.labels ?? {})) if (k === SERVER_LABEL) labels[k] = v;
  const spec: ContainerSpec = { ...cache.spec, name: undefined, labels: { ...labels, [PREPARED_LABEL]: ctx.request.app } };
  const imageId = (await runtime.inspectImage(spec.image))?.id;
  const created = await runtime.create(spec);
  const onAbort = (): void => void created.remove().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await failpoint("cache-copy", ctx.request.app, signal);
    if (!created.upperDir) throw new Error("the engine gave no writable layer");
    await copyKept(ctx, await cacheRootIn(created.upperDir));
    signal.throwIfAborted();
  } catch (err) {
    await created.remove();
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  await cachesOf(ctx.deps).offer(ctx.request.app, { created, specKey: specKey(spec), imageId });
}

/** Puts the folder `from` (beside the kept caches, on the same disk) in the kept cache's place by renames. */
async function keep(ctx: BuildContext, from: string, key: string): Promise<void> {
  const stats = await lstat(from);
  if (!stats.isDirectory()) throw new Error(`${from} is not a folder any more; not keeping it`);
  const kept = path.join(appCacheDir(ctx), key);
  await mkdir(appCacheDir(ctx), { recursive: true, mode: 0o700 });
  const old = path.join(appCacheDir(ctx), `.old-${ctx.buildId}-${key}`);
  const hadOne = await rename(kept, old).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return false;
      throw err;
    },
  );
  await rename(from, kept);
  if (hadOne) await rm(old, { recursive: true, force: true });
  // The tar file earlier versions kept instead.
  await rm(`${kept}.tar`, { force: true });
}

/** Working copies, replaced caches and half-made copies a stopped process left: call at start, before builds. */
export async function sweepCacheWork(cacheDir: string): Promise<number> {
  let removed = await sweepDiscarded(cacheDir);
  for (const app of await readdir(cacheDir).catch(() => [] as string[])) {
    for (const name of await readdir(path.join(cacheDir, app)).catch(() => [] as string[])) {
      if (/^\.(work-|old-)/.test(name) || /\.tmp-/.test(name)) {
        await rm(path.join(cacheDir, app, name), { recursive: true, force: true });
        removed++;
      }
    }
  }
  return removed;
}

/** What must be equal for a prepared container to serve a build: the spec but its name and labels. */
function specKey(spec: ContainerSpec): string {
  return JSON.stringify({ ...spec, name: undefined, labels: undefined });
}

function appCacheDir(ctx: BuildContext): string {
  return path.join(ctx.deps.cacheDir, ctx.request.app);
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

function isDir(p: string): Promise<boolean> {
  return lstat(p).then((s) => s.isDirectory(), () => false);
}
