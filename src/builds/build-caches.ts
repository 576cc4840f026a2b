import { spawn } from "node:child_process";
import { lstat, mkdir, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Container, CreatedContainer } from "../docker/container-runtime.js";
import type { Logger } from "../log.js";
import { stderrHead } from "../util/child-output.js";
import { discardDir, sweepDiscarded } from "../util/discard-dir.js";
import { isRealDirBeneath } from "../util/real-dir.js";
import { runProcess } from "../util/run-process.js";
import { tarOut, type TarOut } from "../util/tar-out.js";
import type { CacheRemote } from "./cache-remote.js";
import { archiveFromBuild, type InContainer } from "./container-exec.js";
import type { PreparedStandbys } from "./standby-exec.js";
import type { LaidInputs, LaidSource } from "./types.js";

/*
 * The build caches service: CACHE_DIR per app and buildpack, kept on the host as a folder
 * (`<cacheDir>/<app>/<key>/`), the background work that saves and copies them after a push has its
 * answer, and the containers made ahead of time for apps' next builds. One per build service (or
 * per `slugforge buildpack test` run), made where that is made and passed to what uses it.
 *
 * A build never works on the kept folder itself, only on a copy, and only a build that has fully
 * succeeded replaces it, so a failed build never touches it. Nothing a build left is read by
 * following a path from the host: caches come back by renaming the folder after an lstat of it
 * (a bind-mounted copy) or of every folder from the layer's top down to it (a stopped container's
 * layer: keepFromLayer, which copies with cp -a where the rename fails), or through the
 * container's own tar (keepFromContainer: the data folder on another filesystem, or tar mode). The
 * host otherwise only copies, renames and deletes these trees (cp -a, rename, rm -r, none of which
 * follow the symbolic links a build may leave) and never reads or runs what is in them.
 */

/** How a build's caches reach its container (build-container.ts says how each works). */
export type CacheMode = "layer" | "mount" | "tar";

/** The cache mode builds use on this engine, and why, in words for the operator's log. */
export interface CacheModeChoice {
  readonly mode: CacheMode;
  readonly why: string;
}

/** A container made ahead of time for an app's next build, with its caches in its layer. */
export interface PreparedContainer {
  readonly created: CreatedContainer;
  /** What must be equal for it to serve a build: the container spec but its name and labels. */
  readonly specKey: string;
  readonly imageId: string | undefined;
  /** The app's last built commit, unpacked in its /app (laid-source.ts), when that could be done. */
  readonly source?: LaidSource;
  /** The last build's buildpacks and ENV_DIR, laid in its layer, by key (laid-inputs.ts). */
  readonly laid?: LaidInputs;
  /** The container started already, once its caches and source were in: the next build need not wait for a start. */
  readonly running?: Container;
  /** Execs started in `running`, waiting for the next build's programs. */
  readonly standbys?: PreparedStandbys;
  /** Called when a build takes it: background work for it that is still going (reading the laid /app as a slug tar) stops, and leaves the cores to the build. */
  readonly onTaken?: () => void;
}

/**
 * Removes a prepared container no build took, and drops the connections of the execs waiting in
 * it (the engine need not close them when their container goes).
 */
export function removePrepared(prepared: PreparedContainer): Promise<void> {
  prepared.standbys?.abort();
  return prepared.created.remove();
}

export interface BuildCachesOptions {
  /** `<dataDir>/cache`. */
  readonly cacheDir: string;
  readonly log: Logger;
  /** Whether any build runs or waits: background work waits meanwhile. */
  readonly busy?: () => boolean;
  /**
   * The object store (SLUGFORGE_STORAGE_URL): every kept cache is also uploaded there in the
   * background, and an app with no kept folder here (another node, a new data folder) starts from
   * the store's copy.
   */
  readonly remote?: CacheRemote;
}

/** How long one cache upload may take before it is given up (the next keep uploads again). */
const UPLOAD_TIMEOUT_MS = 10 * 60_000;

export class BuildCaches {
  readonly cacheDir: string;
  private readonly log: Logger;
  private readonly busy: () => boolean;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly prepared = new Map<string, PreparedContainer>();
  private readonly urgent = new Counted();
  private readonly offerWaiters = new Map<string, Set<() => void>>();
  private readonly wantWaiters = new Map<string, Set<() => void>>();
  private readonly loose = new Set<Promise<void>>();
  private jobs = 0;
  private modeChoice?: Promise<CacheModeChoice>;
  private stopping = false;
  private readonly remote: CacheRemote | undefined;
  /** Uploads to the object store, one chain per app and key (a newer keep uploads after the older). */
  private readonly uploads = new Map<string, Promise<void>>();

  constructor(options: BuildCachesOptions) {
    this.cacheDir = options.cacheDir;
    this.log = options.log;
    this.busy = options.busy ?? (() => false);
    this.remote = options.remote;
  }

  /**
   * The cache mode, chosen once by `choose` for every build of this service; a choice that could
   * not be made (the engine did not answer, the stack image is missing) is tried again next time.
   */
  mode(choose: () => Promise<CacheModeChoice>): Promise<CacheModeChoice> {
    if (!this.modeChoice) {
      const choosing = choose();
      this.modeChoice = choosing;
      choosing.catch(() => {
        if (this.modeChoice === choosing) this.modeChoice = undefined;
      });
    }
    return this.modeChoice;
  }

  /** The server is stopping: no containers are made ahead of time any more (saving caches goes on). */
  windDown(): void {
    this.stopping = true;
  }

  get windingDown(): boolean {
    return this.stopping;
  }

  /** `<cacheDir>/<app>`. */
  appDir(app: string): string {
    return path.join(this.cacheDir, app);
  }

  /**
   * Runs `job` after the app's earlier background work, off the caller's path, once no build runs
   * or waits (unless the app's next build needs it now: settled()). A job that takes longer than
   * `timeoutMs` is aborted (its signal) and given up on, so that a hung copy never holds the app's
   * next build: that build starts without it.
   */
  later(app: string, job: (signal: AbortSignal) => Promise<void>, log: Logger, timeoutMs: number): void {
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

  /**
   * Clean-up nobody waits for but idle() and close() (a replaced cache's tree, a saved build's
   * container): its failure is logged.
   */
  behind(work: Promise<void>): void {
    const tracked = work
      .catch((err: unknown) => this.log.warn({ err }, "background clean-up after a build failed"))
      .finally(() => this.loose.delete(tracked));
    this.loose.add(tracked);
  }

  /** Background jobs queued or running, and clean-up behind them (for /metrics). */
  pending(): number {
    return this.jobs + this.loose.size;
  }

  /** Resolves once the app's background work is done (starting it now if it was waiting for a free slot). */
  async settled(app: string): Promise<void> {
    this.urgent.add(app);
    try {
      // A job may queue another (keeping caches after the next container is made): that too.
      for (let chain = this.chains.get(app); chain; chain = this.chains.get(app)) await chain;
    } finally {
      this.urgent.delete(app);
    }
  }

  /**
   * Resolves once the app's background work is done or has offered a container for its next
   * build, whichever comes first (starting the work now if it was waiting for a free slot). The
   * rest of it (keeping the caches) goes on meanwhile; a build that cannot use that container
   * waits for settled().
   */
  async ready(app: string): Promise<void> {
    const chain = this.chains.get(app);
    if (!chain) return;
    this.log.debug({ app }, "a build waits for the container the app's background work is making");
    let offered!: () => void;
    const waiting = new Promise<void>((resolve) => (offered = resolve));
    const waiters = this.offerWaiters.get(app) ?? new Set<() => void>();
    waiters.add(offered);
    this.offerWaiters.set(app, waiters);
    this.urgent.add(app);
    for (const tell of this.wantWaiters.get(app) ?? []) tell();
    try {
      await Promise.race([chain, waiting]);
    } finally {
      waiters.delete(offered);
      if (waiters.size === 0 && this.offerWaiters.get(app) === waiters) this.offerWaiters.delete(app);
      this.urgent.delete(app);
    }
  }

  /**
   * Resolves once a build of the app waits for the container its background work is making
   * (ready()), at once if one does already; `stop()` forgets the wait.
   */
  whenWanted(app: string): { readonly wanted: Promise<void>; stop(): void } {
    let tell!: () => void;
    const wanted = new Promise<void>((resolve) => (tell = resolve));
    if (this.offerWaiters.has(app)) tell();
    const waiters = this.wantWaiters.get(app) ?? new Set<() => void>();
    waiters.add(tell);
    this.wantWaiters.set(app, waiters);
    return {
      wanted,
      stop: () => {
        waiters.delete(tell);
        if (waiters.size === 0 && this.wantWaiters.get(app) === waiters) this.wantWaiters.delete(app);
      },
    };
  }

  private async quiet(app: string): Promise<void> {
    while (this.busy() && !this.urgent.has(app)) await new Promise((resolve) => setTimeout(resolve, 100));
  }

  /** Keeps a container made ahead of time for the app's next build (one per app: an older one goes). */
  offer(app: string, prepared: PreparedContainer): Promise<void> {
    const old = this.prepared.get(app);
    this.prepared.set(app, prepared);
    for (const offered of this.offerWaiters.get(app) ?? []) offered();
    return old ? removePrepared(old) : Promise.resolve();
  }

  /** Whether a container is prepared for the app's next build here (an engine of a pool prefers its apps). */
  holds(app: string): boolean {
    return this.prepared.has(app);
  }

  /**
   * Removes the container prepared for the app (its next build runs on another engine, and keeps
   * newer caches than this container has).
   */
  async drop(app: string): Promise<void> {
    const found = this.prepared.get(app);
    this.prepared.delete(app);
    if (found) await removePrepared(found);
  }

  /** The container prepared for the app, if it was made from the same spec and image; another is removed. */
  async take(app: string, specKey: string, imageId: string | undefined): Promise<PreparedContainer | undefined> {
    const found = this.prepared.get(app);
    this.prepared.delete(app);
    if (!found) return undefined;
    if (found.specKey === specKey && found.imageId === imageId) {
      found.onTaken?.();
      return found;
    }
    await removePrepared(found);
    return undefined;
  }

  /** Copies every kept cache of the app but `except` into `root` (a cache that cannot be copied is left out, with a warning). */
  async copyKept(app: string, root: string, log: Logger, except?: ReadonlySet<string>): Promise<void> {
    for (const key of await this.keptKeys(app)) {
      if (except?.has(key)) continue;
      const copied = await runProcess("cp", ["-a", "-T", path.join(this.appDir(app), key), path.join(root, key)]);
      if (copied.code !== 0) {
        log.warn({ buildpack: key, stderr: copied.stderr.slice(0, 2000) }, "copying the kept build cache failed; the build starts without it");
        await rm(path.join(root, key), { recursive: true, force: true });
      }
    }
  }

  /**
   * Every kept cache of the app as one tar stream (entries `<key>/...`, made by GNU tar on the
   * host, links kept as links), for a build container to unpack with its own tar; none: undefined.
   */
  async keptArchive(app: string): Promise<(TarOut & { keys: string[] }) | undefined> {
    const keys = await this.keptKeys(app);
    if (keys.length === 0) return undefined;
    return { keys, ...tarOut(["-c", "-f", "-", "--numeric-owner", "-C", this.appDir(app), "--", ...keys]) };
  }

  private async keptKeys(app: string): Promise<string[]> {
    const entries = await readdir(this.appDir(app), { withFileTypes: true }).catch(() => []);
    return entries.filter((d) => d.isDirectory() && !d.name.startsWith(".")).map((d) => d.name);
  }

  /** Puts the folder `from` (beside the kept caches, on the same disk) in the kept cache's place by renames. */
  async keep(app: string, buildId: string, from: string, key: string): Promise<void> {
    const stats = await lstat(from);
    if (!stats.isDirectory()) throw new Error(`${from} is not a folder any more; not keeping it`);
    const dir = this.appDir(app);
    const kept = path.join(dir, key);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const old = path.join(dir, `.old-${buildId}-${key}`);
    const hadOne = await rename(kept, old).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return false;
        throw err;
      },
    );
    await rename(from, kept).catch(async (err: unknown) => {
      // The previous cache stays kept.
      if (hadOne) await rename(old, kept);
      throw err;
    });
    // Off the app's chain: its next build need not wait for the old tree to go.
    if (hadOne) this.behind(rm(old, { recursive: true, force: true }));
    // The tar file earlier versions kept instead.
    await rm(`${kept}.tar`, { force: true });
    this.upload(app, key);
  }

  /**
   * Off every build's path: the kept cache goes to the object store as a tar. A tar made while a
   * newer build replaces the folder fails (GNU tar exits non-zero) and uploads nothing; the newer
   * keep uploads its own.
   */
  private upload(app: string, key: string): void {
    const remote = this.remote;
    if (!remote) return;
    const id = `${app}/${key}`;
    const next = (this.uploads.get(id) ?? Promise.resolve())
      .then(() => withDeadline((signal) => remote.upload(app, this.appDir(app), key, signal), UPLOAD_TIMEOUT_MS))
      .then(
        () => this.log.debug({ app, cache: key }, "kept build cache uploaded to the object store"),
        (err: unknown) => this.log.warn({ err, app, cache: key }, "uploading the kept build cache to the object store failed; other nodes build this app without it"),
      )
      .finally(() => {
        if (this.uploads.get(id) === next) this.uploads.delete(id);
      });
    this.uploads.set(id, next);
  }

  /**
   * An app with no kept folder on this node gets the caches the object store holds for it (each
   * verified against the sha256 it was written with, unpacked as a container's tar is, then renamed
   * into place). A cache that cannot be fetched is left out: the build starts without it.
   */
  async restore(app: string, buildId: string, log: Logger): Promise<void> {
    const remote = this.remote;
    if (!remote || (await lstat(this.appDir(app)).then(() => true, () => false))) return;
    const keys = await remote.keys(app).catch((err: unknown) => {
      log.warn({ err }, "could not list the app's build caches in the object store; the build starts without them");
      return [] as string[];
    });
    if (keys.length === 0) return;
    await mkdir(this.appDir(app), { recursive: true, mode: 0o700 });
    for (const key of keys) {
      const work = path.join(this.appDir(app), `.tmp-${buildId}-fetch-${key}`);
      try {
        const tar = await remote.download(app, key);
        if (!tar) continue;
        await mkdir(work, { mode: 0o700 });
        await this.unpack(tar, work);
        const fetched = path.join(work, key);
        if (!(await lstat(fetched)).isDirectory()) throw new Error(`the store's tar of ${key} holds no folder ${key}/`);
        // Renamed into place without keep(): that would upload the same cache again.
        await rename(fetched, path.join(this.appDir(app), key));
        log.info({ cache: key, from: remote.where }, "build cache fetched from the object store (this node had none)");
      } catch (err) {
        log.warn({ err, cache: key }, "fetching the build cache from the object store failed; the build starts without it");
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }
  }

  /**
   * `dir` of a build container (a CACHE_DIR) as the app's kept cache `key`: its tar (made inside,
   * as the build user) unpacked on the host by GNU tar, which refuses names with `..`, strips
   * leading `/` and makes links that point outside the tree only after everything else (so nothing
   * is written through them); set-id bits are dropped. What arrives must be a folder, not a link.
   */
  async keepFromContainer(build: InContainer, dir: string, key: string): Promise<void> {
    await mkdir(this.appDir(build.app), { recursive: true, mode: 0o700 });
    const work = path.join(this.appDir(build.app), `.tmp-${build.buildId}-${key}`);
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { mode: 0o700 });
    try {
      await this.unpack(archiveFromBuild(build, dir), work);
      await this.keep(build.app, build.buildId, path.join(work, path.posix.basename(dir)), key);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Whether caches can be renamed out of the container layers under `upperDir` into the app's
   * kept folder: both on one filesystem (else the rename would fail with EXDEV, and the caches
   * come back through the container's tar while it still runs).
   */
  async renamesFrom(upperDir: string, app: string): Promise<boolean> {
    await mkdir(this.appDir(app), { recursive: true, mode: 0o700 });
    const [layer, kept] = await Promise.all([stat(upperDir), stat(this.appDir(app))]);
    return layer.dev === kept.dev;
  }

  /**
   * `upperDir/rel` (a CACHE_DIR in the upper layer of the build's container, which must be
   * stopped: nothing runs in it, so nothing there moves) as the app's kept cache `key`. Every
   * folder on the way is checked with lstat (the build may have put links there) and the folder
   * is renamed out, or, where that fails, copied out (cp -a, which follows no link in it).
   * What comes out is kept only if the container was not being removed meanwhile (that would
   * have left it half deleted); set-id bits are dropped, as for a tar.
   */
  async keepFromLayer(build: InContainer, upperDir: string, rel: string, key: string, log: Logger): Promise<void> {
    if (!(await isRealDirBeneath(upperDir, rel))) throw new Error(`${rel} is not a folder in the build container's layer (the build replaced or removed it); not keeping it`);
    await mkdir(this.appDir(build.app), { recursive: true, mode: 0o700 });
    const work = path.join(this.appDir(build.app), `.tmp-${build.buildId}-${key}`);
    await rm(work, { recursive: true, force: true });
    try {
      await rename(path.join(upperDir, rel), work).catch(async (err: unknown) => {
        log.debug({ err, buildpack: key }, "renaming the cache out of the container's layer failed; copying it");
        const copied = await runProcess("cp", ["-a", "-T", "--", path.join(upperDir, rel), work]);
        if (copied.code !== 0) throw new Error(`copying the cache out of the container's layer failed: ${copied.stderr.slice(0, 500)}`);
      });
      if (!(await build.container.isStopped())) throw new Error("the build container was removed while its cache was taken out; not keeping it");
      await clearSetId(work);
      await this.keep(build.app, build.buildId, work, key);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** A cache's tar into `work` by GNU tar (no `..`, no leading `/`, outside links last), set-id bits dropped. */
  private async unpack(tar: NodeJS.ReadableStream, work: string): Promise<void> {
    // --ignore-zeros: read to the end of the stream (the record padding after the end of the archive too).
    const unpack = spawnTar(["-x", "-f", "-", "--ignore-zeros", "--same-owner", "--numeric-owner", "--no-overwrite-dir", "-C", work]);
    await pipeline(tar, unpack.stdin);
    const code = await unpack.exited;
    if (code !== 0) throw new Error(`unpacking the cache failed (tar exited with ${code}): ${unpack.stderr().trim().slice(0, 500)}`);
    await clearSetId(work);
  }

  /** An app that kept nothing (its first build failed) keeps no empty folder either. */
  async dropEmpty(app: string): Promise<void> {
    await rmdir(this.appDir(app)).catch(() => undefined);
  }

  /**
   * Forgets a deleted app: waits for its background work, removes its prepared container and its
   * kept caches.
   */
  async forget(app: string): Promise<void> {
    await this.settled(app);
    const prepared = this.prepared.get(app);
    this.prepared.delete(app);
    if (prepared) await removePrepared(prepared);
    await discardDir(this.appDir(app));
    await Promise.all([...this.uploads.entries()].filter(([id]) => id.startsWith(`${app}/`)).map(([, p]) => p));
    await this.remote?.remove(app);
  }

  /** Resolves once there is no background work left (uploads to the object store included). */
  async idle(): Promise<void> {
    while (this.chains.size > 0 || this.uploads.size > 0 || this.loose.size > 0) await Promise.all([...this.chains.values(), ...this.uploads.values(), ...this.loose]);
  }

  /** Waits for all background work and removes the prepared containers (shutdown, the end of a test run). */
  async close(): Promise<void> {
    await this.idle();
    const all = [...this.prepared.values()];
    this.prepared.clear();
    await Promise.all(all.map((p) => removePrepared(p).catch((err: unknown) => this.log.warn({ err }, "could not remove a prepared build container"))));
  }

  /** Working copies, replaced caches and half-made copies a stopped process left: call at start, before builds. */
  async sweep(): Promise<number> {
    let removed = await sweepDiscarded(this.cacheDir);
    for (const app of await readdir(this.cacheDir).catch(() => [] as string[])) {
      for (const name of await readdir(path.join(this.cacheDir, app)).catch(() => [] as string[])) {
        if (/^\.(work-|old-)/.test(name) || /\.tmp-/.test(name)) {
          await rm(path.join(this.cacheDir, app, name), { recursive: true, force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

/** A set whose members may be added more than once, and stay until deleted as often. */
class Counted {
  private readonly counts = new Map<string, number>();
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  delete(key: string): void {
    const n = (this.counts.get(key) ?? 0) - 1;
    if (n > 0) this.counts.set(key, n);
    else this.counts.delete(key);
  }
  has(key: string): boolean {
    return this.counts.has(key);
  }
}

/** Drops the set-id bits of every file under `dir` (find follows no links; nothing runs that could swap them). */
export async function clearSetId(dir: string): Promise<void> {
  const cleared = await runProcess("find", [dir, "-type", "f", "-perm", "/6000", "-exec", "chmod", "ug-s", "{}", "+"]);
  if (cleared.code !== 0) throw new Error(`clearing set-id bits failed: ${cleared.stderr.slice(0, 500)}`);
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

/** GNU tar on the host, its exit code and the start of its stderr. */
function spawnTar(args: readonly string[]): { stdin: Writable; exited: Promise<number>; stderr(): string } {
  const child = spawn("tar", [...args], { stdio: ["pipe", "ignore", "pipe"] });
  const stderr = stderrHead(child.stderr);
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
  exited.catch(() => undefined);
  return { stdin: child.stdin, exited, stderr };
}
