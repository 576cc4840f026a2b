import { createHash, randomUUID } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { createBuildpackResolver, type ResolvedBuildpack } from "../buildpacks/resolve-buildpacks.js";
import type { Config } from "../config/parse-config.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { createEnginePool, type EnginePool, type PoolEngine } from "../docker/engine-pool.js";
import { ERROR_CODES, SlugforgeError, isDiskFull, isSlugforgeError, toSlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { APP_NAME } from "../names.js";
import { createFsSlugStore } from "../slug/fs-slug-store.js";
import type { SlugStore } from "../slug/slug-store.js";
import type { DiskGuard } from "../util/disk-space.js";
import { failpoint } from "../util/failpoints.js";
import { BuildCaches, type CacheModeChoice } from "./build-caches.js";
import type { CacheRemote } from "./cache-remote.js";
import { cacheModeOf } from "./build-container.js";
import { createBuildPrinter, type BuildPrinter } from "./build-printer.js";
import { createBuildQueue } from "./build-queue.js";
import { readPushedCommit } from "./git-source.js";
import { createStackImageIds } from "./stack-image-ids.js";
import type { AppJson } from "./app-json.js";
import { newAppConfigVars } from "./app-json-env.js";
import { createMaskedOutput, secretsOf } from "./secret-masker.js";
import { startDeadline } from "./deadline.js";
import { parsePushOptions } from "./push-options.js";
import { createReleaseProcesses, type NewSlug } from "./release-processes.js";
import { BuildSession, buildApp, type SessionDeps } from "./session.js";
import { sweepStrayContainers } from "./sweep.js";
import type { AfterRelease, BuildOutput, BuildRecorder, BuildRequest, BuildResult, Builder, Recorded } from "./types.js";

export interface BuildServiceDeps {
  /** The primary engine: release phases and postdeploy scripts run there (and builds, without `engines`). */
  readonly runtime: ContainerRuntime;
  /**
   * The engines builds are spread over (SLUGFORGE_BUILD_ENGINES), `runtime` being its primary;
   * default: `runtime` alone.
   */
  readonly engines?: EnginePool;
  readonly config: Config;
  readonly log: Logger;
  /** Where shipped buildpacks live: `<dir>/<name>/bin/{detect,compile,release}`. */
  readonly buildpacksDir: string;
  /** Shipped buildpacks in detect order; default `["python"]`. */
  readonly shippedBuildpacks?: readonly string[];
  readonly getConfigVars: (app: string) => Promise<Record<string, string>>;
  /** Defaults to `config.dataDir`; slugs, caches and fetched buildpacks live under it. */
  readonly dataDir?: string;
  /** Where slugs go; default createFsSlugStore(<dataDir>/slugs). */
  readonly slugStore?: SlugStore;
  /** Kept build caches in the object store too (SLUGFORGE_STORAGE_URL); default: on this node only. */
  readonly cacheRemote?: CacheRemote;
  /** The slug of an app's current release (with an object store: block reuse from a slug another node wrote). */
  readonly lastSlugId?: (app: string) => Promise<string | undefined>;
  /** Whether builds run on other nodes sharing the store (the last answer; asked in the background). */
  readonly othersBuilding?: () => boolean;
  /** Names this server's build containers (label org.slugforge.server); default: hash of host name and data dir. */
  readonly serverId?: string;
  /** Keeps build records, output, slugs and releases (the metadata store's recorder in the server). */
  readonly recorder?: BuildRecorder;
  /** Refuses to write a slug (STORAGE_FULL) while the data folder's disk is under its reserve. */
  readonly disk?: DiskGuard;
  /**
   * The app's newest succeeded build with these inputs (the records' knowledge): its slug is
   * reused instead of building again. Absent: every push builds.
   */
  readonly reusable?: (app: string, inputsKey: string) => Promise<ReusableBuild | undefined>;
  /** The config vars a new release will have (its release phase runs with them); default getConfigVars. */
  readonly releaseConfigVars?: (app: string) => Promise<Record<string, string>>;
  /** How often a build result that could not be recorded (a full disk) is tried again; default 5 s. */
  readonly recordRetryMs?: number;
  /** Runs for each release a push makes, after it is recorded and before the push is answered (its image). */
  readonly afterRelease?: AfterRelease;
  /**
   * app.json's `env` for a new app (one with no release yet): how to tell, and how its config vars
   * are kept (with who pushed). Absent: app.json's `env` is not applied.
   */
  readonly newAppConfig?: NewAppConfig;
}

export interface NewAppConfig {
  hasReleases(app: string): Promise<boolean>;
  set(app: string, vars: Readonly<Record<string, string>>, actor: string | undefined): Promise<void>;
}

/** An earlier build whose slug a push with the same inputs can have. */
export interface ReusableBuild {
  readonly buildId: string;
  readonly slug: { readonly sha256: string; readonly sizeBytes: number; readonly id: string };
  readonly processTypes: Readonly<Record<string, string>>;
  readonly buildpacks: readonly string[];
}

export interface BuildService extends Builder {
  /** Removes build containers left by an earlier process; call once at start. */
  sweepStrayContainers(): Promise<number>;
  /** Builds running and waiting for a slot, and cache copies being made for the next builds. */
  stats(): { running: number; waiting: number; cacheCopies: number };
  /** Resolves once the background work of builds so far (saving caches, removing containers) is done. */
  idle(): Promise<void>;
  /** For a deleted app: its background cache work is waited for, its prepared container and kept caches removed. */
  forgetApp(app: string): Promise<void>;
  /**
   * How build caches reach build containers here, and why (chosen once, by the first build or by
   * this call; the server asks at start to log it).
   */
  cacheMode(): Promise<CacheModeChoice>;
  /**
   * Stops taking builds for a server that is stopping: builds waiting for a slot are cancelled at
   * once; running ones go on until `cut` aborts, then are cancelled (BUILD_CANCELLED, saying the
   * server stopped). Resolves when no build is left.
   */
  drain(cut: AbortSignal): Promise<void>;
  /** Waits for background cache work and removes containers prepared for next builds. */
  close(): Promise<void>;
}

/** Why builds a stopping server did not run to their end. */
const STOPPING_BEFORE_START = "The server is stopping, so this build did not start. Push again once it is back.";
const STOPPING_CUT = "The server is stopping and this build did not finish in time (SLUGFORGE_STOP_GRACE); it was cancelled. Push again once it is back.";

export function createBuildService(deps: BuildServiceDeps): BuildService {
  const dataDir = deps.dataDir ?? deps.config.dataDir;
  const queue = createBuildQueue(deps.config.buildConcurrency);
  const serverId = deps.serverId ?? createHash("sha256").update(`${os.hostname()}:${path.resolve(dataDir)}`).digest("hex").slice(0, 16);
  const busy = (): boolean => queue.waiting > 0 || queue.running > 0 || (deps.othersBuilding?.() ?? false);
  const pool = deps.engines ?? createEnginePool({ engines: [{ url: deps.config.dockerHost ?? "unix:///var/run/docker.sock", runtime: deps.runtime }], log: deps.log });
  const common = {
    serverId,
    config: deps.config,
    slugStore: deps.slugStore ?? createFsSlugStore(path.join(dataDir, "slugs")),
    lastSlugId: deps.lastSlugId,
    disk: deps.disk,
    buildpacks: createBuildpackResolver({
      shippedDir: deps.buildpacksDir,
      shippedOrder: deps.shippedBuildpacks ?? ["python"],
      gitCacheDir: path.join(dataDir, "buildpacks"),
      fileRoots: deps.config.buildpackRoots ?? [deps.buildpacksDir],
    }),
  };
  // One lane per engine: its own prepared containers and cache mode (an engine whose container
  // layers this process cannot write gets tar mode); the kept cache folders on this host are shared.
  const lanes = new Map<PoolEngine, SessionDeps>(
    pool.engines.map((engine) => [
      engine,
      {
        ...common,
        runtime: engine.runtime,
        caches: new BuildCaches({ cacheDir: path.join(dataDir, "cache"), log: deps.log, busy, remote: deps.cacheRemote }),
        stackImageIds: createStackImageIds(engine.runtime, deps.log),
      },
    ]),
  );
  const laneOf = (engine: PoolEngine): SessionDeps => lanes.get(engine)!;
  const allCaches = (): BuildCaches[] => [...lanes.values()].map((l) => l.caches);
  const primaryLane = laneOf(pool.primary);
  const sessionDeps = primaryLane;
  const caches = primaryLane.caches;

  const releaseConfigVars = deps.releaseConfigVars ?? deps.getConfigVars;
  const releaseProcesses = createReleaseProcesses({
    runtime: deps.runtime,
    config: deps.config,
    slugStore: sessionDeps.slugStore,
    serverId,
    configVars: releaseConfigVars,
  });

  // A stopping server: `notStarted` cancels builds still waiting, `cutRunning` the running ones.
  const notStarted = new AbortController();
  const cutRunning = new AbortController();
  const active = new Set<Promise<BuildResult>>();

  const build = (request: BuildRequest, output: BuildOutput, signal: AbortSignal): Promise<BuildResult> => {
    const done = buildOnce(request, output, signal);
    active.add(done);
    void done.finally(() => active.delete(done)).catch(() => undefined);
    return done;
  };

  const buildOnce = async (request: BuildRequest, output: BuildOutput, pusher: AbortSignal): Promise<BuildResult> => {
    // Waiting for a slot ends when the pusher goes or the server stops; a running build only at the cut.
    const signal = AbortSignal.any([pusher, notStarted.signal]);
    // Once started, a build (and its release phase, postdeploy, image) goes on through a stop's grace.
    const running = AbortSignal.any([pusher, cutRunning.signal]);
    const buildId = request.buildId ?? randomUUID();
    const log = deps.log.child({ buildId, app: request.app, commit: request.commit });
    const recorder = deps.recorder ? safeRecorder(deps.recorder, log) : undefined;
    // The pushed commit cannot change: one git reads it (app.json, the tree) while the build is recorded.
    readPushedCommit(request.source, request.commit, signal).catch(() => undefined);
    await recorder?.queued(buildId, request);
    // Masked before the tee: the pusher and the stored output see the same, secret-free bytes.
    const masked = createMaskedOutput(safeOutput(teeOutput(output, recorder, buildId), log));
    const out = createBuildPrinter(masked);
    let session: BuildSession | undefined;
    let buildpacks: readonly ResolvedBuildpack[] = [];
    let buildpackNames: readonly string[] | undefined;
    // app.json's scripts.postdeploy: run once the release is kept, when it is the app's first.
    let postdeploy: string | undefined;
    let builtSlug: NewSlug | undefined;
    const finish = async (result: BuildResult): Promise<BuildResult> => {
      const facts = {
        buildpacks: buildpackNames ?? buildpacks.map((b) => (b.commit ? `${b.spec}@${b.commit}` : b.spec)),
        phases: session?.phases ?? [],
      };
      // The message is kept with the build and printed by the git layer, outside this output.
      const maskedError = (r: BuildResult): BuildResult => (r.error ? { ...r, error: { ...r.error, message: masked.maskText(r.error.message) } } : r);
      let done: BuildResult = maskedError({ ...result, ...facts });
      // The held-back tail goes out before the record says the build ended, so a follower reads it.
      masked.end();
      if (!deps.recorder) return done;
      await failpoint("build-record", request.app);
      let recorded: Recorded | void = undefined;
      try {
        recorded = await deps.recorder.finished(request, done);
      } catch (err) {
        log.error({ err }, "recording the build's result failed");
        // No release was recorded, so the push must not be accepted: the build fails with why.
        if (done.status === "succeeded") done = maskedError({ ...failed(buildId, err, out, log), ...facts });
        records.retry(request, done);
      }
      if (recorded && recorded.lines.length) {
        out.step("Launching...");
        for (const line of recorded.lines) out.detail(line);
      }
      if (recorded?.release?.version === 1 && postdeploy !== undefined && builtSlug) {
        // The release stands whatever the script does: as on Heroku, a failure is reported, not undone.
        await releaseProcesses.postdeploy(request.app, builtSlug, postdeploy, out, log, running).catch((err: unknown) => {
          log.warn({ err }, "the postdeploy script did not finish");
          out.error(`app.json postdeploy did not finish (${isSlugforgeError(err) ? err.message : "see the server log"}); v1 is released all the same.`);
        });
      }
      if (recorded?.release && deps.afterRelease) {
        // The release is kept whatever happens here: this may print, never fail the push.
        await deps.afterRelease(recorded.release, out, running).catch((err: unknown) => log.error({ err }, "after-release work failed"));
      }
      masked.end();
      return done;
    };
    out.step(`Build ${buildId} of ${request.app} (${request.commit.slice(0, 7)})`);
    try {
      if (!APP_NAME.test(request.app)) throw new SlugforgeError("APP_NAME_INVALID", `"${request.app}" is not a valid app name.`);
      const options = parsePushOptions(request.pushOptions);
      const made = await queue.run(request.app, signal, (w) => tellWaiting(out, w), async () => {
        log.info("build started");
        await recorder?.started(buildId);
        const lease = pool.acquire((engine) => laneOf(engine).caches.holds(request.app));
        const lane = laneOf(lease.engine);
        const deadline = startDeadline(AbortSignal.any([running, lease.signal]), deps.config.buildTimeoutMs);
        let opened: BuildSession | undefined;
        try {
          if (pool.engines.length > 1) {
            out.detail(`Build engine: ${lease.engine.url}`);
            log.info({ engine: lease.engine.url }, "build engine chosen");
            // The app's background cache work elsewhere ends first (its caches are kept on this host);
            // a container prepared elsewhere would hold older caches than this build keeps.
            for (const other of allCaches()) if (other !== lane.caches) await handOver(other, request.app, log);
          }
          opened = new BuildSession(lane, { buildId, app: request.app, commit: request.commit, source: request.source, out, log, signal: deadline.signal });
          session = opened;
          opened.readAhead();
          const manifest = await opened.appJson();
          postdeploy = manifest?.postdeploy;
          const configVars = { ...(await deps.getConfigVars(request.app)), ...(await appJsonEnv(request, manifest, options.dryRun, out)) };
          masked.mask(secretsOf(Object.values(configVars)));
          const candidates = await opened.resolveBuildpacks(configVars);
          const inputs = await opened.inputs(configVars, candidates);
          // Built before, with the same tree, buildpacks, stack and config: the slug is known.
          const earlier = options.rebuild ? undefined : await reusable(request.app, inputs.key);
          if (earlier) {
            out.step(`Reusing slug ${earlier.slug.id} of build ${earlier.buildId} (same tree, buildpacks, stack and config)`);
            out.detail("Push with -o rebuild to build it again.");
            buildpackNames = earlier.buildpacks;
            return { processTypes: earlier.processTypes, slug: earlier.slug, inputsKey: inputs.key, reusedFrom: earlier.buildId };
          }
          const built = await buildApp(opened, configVars, { candidates, freshCache: options.clearCache, onDetected: (chosen) => (buildpacks = chosen) });
          deadline.signal.throwIfAborted();
          return { processTypes: built.processTypes, slug: built.slug, inputsKey: inputs.key };
        } catch (err) {
          // A failure that is not the app's may be the engine gone under the build: then ENGINE_DOWN.
          if (!deadline.signal.aborted && !(isSlugforgeError(err) && err.userCaused)) await pool.confirmDown(lease.engine);
          // After an abort, whatever broke (a killed exec, a cut stream) is the abort's doing.
          throw deadline.signal.aborted ? deadline.signal.reason : err;
        } finally {
          await opened?.close();
          deadline.dispose();
          lease.release();
        }
      });
      log.info({ slug: made.slug, reusedFrom: made.reusedFrom, dryRun: options.dryRun }, "build succeeded");
      builtSlug = { id: made.slug.id, processTypes: made.processTypes };
      if (options.dryRun) {
        out.step("Dry run (-o dry-run): nothing is released and the branch stays where it was");
        return await finish({ buildId, status: "succeeded", ...made, dryRun: true });
      }
      // Heroku's release phase: after the slug, before the release; only deploys run it.
      const releaseCommand = made.processTypes.release;
      if (releaseCommand !== undefined) {
        const started = Date.now();
        const failure = await releaseProcesses.releasePhase(request.app, builtSlug, releaseCommand, out, log, running).then(
          () => undefined,
          (err: unknown) => err,
        );
        session?.phases.push({ phase: "release-phase", ms: Date.now() - started });
        // The build record keeps the slug; nothing is released.
        if (failure !== undefined) return await finish({ ...failed(buildId, failure, out, log), slug: made.slug, inputsKey: made.inputsKey });
      }
      return await finish({ buildId, status: "succeeded", ...made });
    } catch (err) {
      const cancelledWhileWaiting = pusher.aborted && !isSlugforgeError(err);
      return await finish(failed(buildId, cancelledWhileWaiting ? new SlugforgeError("BUILD_CANCELLED", "The build was cancelled before it started.") : err, out, log));
    }
  };

  /**
   * The config vars app.json's `env` gives the app, on its first build only (Heroku applies `env`
   * when it creates an app): kept before the build, so the build, the release and any later build
   * see the same values, and a generated secret is made once. A dry run gets them for itself only.
   */
  const appJsonEnv = async (request: BuildRequest, manifest: AppJson | undefined, dryRun: boolean, out: BuildPrinter): Promise<Record<string, string>> => {
    const host = deps.newAppConfig;
    if (!host || !manifest || Object.keys(manifest.env).length === 0 || (await host.hasReleases(request.app))) return {};
    const own = await releaseConfigVars(request.app);
    const vars = newAppConfigVars(request.app, manifest.env, own);
    const names = Object.keys(vars).join(", ");
    if (names === "") return vars;
    if (dryRun) {
      out.step(`app.json: config vars for this dry run only (not kept): ${names}`);
    } else {
      await host.set(request.app, vars, request.actor);
      out.step(`app.json: set config vars of the new app: ${names}`);
    }
    return vars;
  };

  const records = new RecordRetries(deps.recorder, deps.log, deps.recordRetryMs ?? 5000);

  /** An earlier build of the app with these inputs, when its slug is still in the store. */
  const reusable = async (app: string, inputsKey: string): Promise<ReusableBuild | undefined> => {
    const found = await deps.reusable?.(app, inputsKey);
    if (!found) return undefined;
    return (await sessionDeps.slugStore.stat(found.slug.id)) ? found : undefined;
  };

  return {
    build,
    // The read a build of this commit starts with (app.json, the tree): one git process, begun
    // while the push is checked and its app locked.
    pushed: ({ source, commit }, signal) => void readPushedCommit(source, commit, signal).catch(() => undefined),
    async sweepStrayContainers() {
      let removed = 0;
      for (const engine of pool.engines) {
        const sweep = async (): Promise<void> => {
          const orphans = await engine.runtime.sweepOrphans();
          if (orphans > 0) deps.log.warn({ containers: orphans, engine: engine.url }, "removed containers whose slugforge process is gone");
          removed += await sweepStrayContainers(engine.runtime, serverId, deps.log);
        };
        // A build engine that does not answer now keeps its strays until a later start sweeps it.
        if (engine.primary) await sweep();
        else await sweep().catch((err: unknown) => deps.log.warn({ err, engine: engine.url }, "could not sweep stray build containers on a build engine"));
      }
      const folders = await caches.sweep();
      if (folders > 0) deps.log.warn({ folders }, "removed build cache folders a stopped process left");
      return removed;
    },
    stats: () => ({ running: queue.running, waiting: queue.waiting, cacheCopies: allCaches().reduce((n, c) => n + c.pending(), 0) }),
    idle: async () => void (await Promise.all(allCaches().map((c) => c.idle()))),
    // The kept folders are shared: each lane's work is waited for before the folder goes.
    forgetApp: async (app) => {
      for (const other of allCaches()) if (other !== caches) await handOver(other, app, deps.log);
      await caches.forget(app);
    },
    cacheMode: () => cacheModeOf(sessionDeps),
    async drain(cut) {
      for (const c of allCaches()) c.windDown();
      notStarted.abort(new SlugforgeError("BUILD_CANCELLED", STOPPING_BEFORE_START));
      const onCut = (): void => cutRunning.abort(new SlugforgeError("BUILD_CANCELLED", STOPPING_CUT));
      if (cut.aborted) onCut();
      else cut.addEventListener("abort", onCut, { once: true });
      try {
        while (active.size > 0) await Promise.allSettled([...active]);
      } finally {
        cut.removeEventListener("abort", onCut);
      }
    },
    close: async () => {
      for (const lane of lanes.values()) lane.stackImageIds?.close();
      await records.close();
      await Promise.all(allCaches().map((c) => c.close()));
    },
  };
}

/**
 * Build results the recorder could not keep (a full disk, a locked database): tried again every
 * `everyMs` until they are kept, so that a build never stays "building" in the records while the
 * server runs. A server stopped first leaves them to the start-up sweep (INTERRUPTED).
 */
class RecordRetries {
  private readonly pending = new Map<string, { request: BuildRequest; result: BuildResult }>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly recorder: BuildRecorder | undefined,
    private readonly log: Logger,
    private readonly everyMs: number,
  ) {}

  retry(request: BuildRequest, result: BuildResult): void {
    if (!this.recorder) return;
    this.pending.set(result.buildId, { request, result });
    this.timer ??= setInterval(() => void this.flush(), this.everyMs);
    this.timer.unref();
  }

  /** One pass at a time: a pass still running when the timer fires again is the one waited for. */
  private flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    for (const [id, { request, result }] of this.pending) {
      try {
        await this.recorder?.finished(request, result);
        this.pending.delete(id);
        this.log.info({ buildId: id, status: result.status }, "recorded a build result that had failed to record");
      } catch {
        // Still failing (the disk is still full): next time.
      }
    }
    if (this.pending.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * The app's background cache work on another engine's lane is waited for, and the container
 * prepared there removed; an engine that does not answer keeps it (its lane forgets it, and a
 * later start's sweep removes it), and the build goes on.
 */
async function handOver(caches: BuildCaches, app: string, log: Logger): Promise<void> {
  await caches.settled(app);
  await caches.drop(app).catch((err: unknown) => log.warn({ err, app }, "could not remove the container prepared on another build engine"));
}

function tellWaiting(out: BuildPrinter, w: { sameApp: boolean; running: number; waiting: number }): void {
  if (w.sameApp) out.step("Waiting for the previous build of this app to finish");
  else out.step(`Waiting for a build slot (${w.running + w.waiting} build${w.running + w.waiting === 1 ? "" : "s"} ahead)`);
}

/** Turns any failure into a result: the code and build id on the last line, never a stack for the pusher. */
function failed(buildId: string, err: unknown, out: BuildPrinter, log: Logger): BuildResult {
  const known = isSlugforgeError(err) || isDiskFull(err) ? toSlugforgeError(err) : undefined;
  const code = known?.code ?? "INTERNAL";
  const shown = known && code !== "INTERNAL";
  const message = shown ? known.message : `Build ${buildId} failed unexpectedly.`;
  if (!known?.userCaused) log.error({ err }, "build failed");
  else log.info({ code, data: known.data }, "build rejected");
  if (shown) out.error(message);
  out.error(`Push rejected: ${code} (build ${buildId}). ${ERROR_CODES[code].hint}`);
  return { buildId, status: code === "BUILD_CANCELLED" ? "cancelled" : "failed", error: { code, message } };
}

/** Everything the pusher sees is also kept with the build. */
function teeOutput(output: BuildOutput, recorder: BuildRecorder | undefined, buildId: string): BuildOutput {
  if (!recorder) return output;
  return {
    write(chunk) {
      // Not waited for: the recorder keeps a build's chunks in the order written (its finished() after them).
      void recorder.output(buildId, typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
      output.write(chunk);
    },
  };
}

/**
 * A recorder whose bookkeeping fails (a full disk) is logged, once per kind; the build and the
 * pusher carry on. Its `finished` is the build service's own business (see build()).
 */
function safeRecorder(recorder: BuildRecorder, log: Logger): BuildRecorder {
  const failedOnce = new Set<string>();
  const guard = <A extends unknown[]>(name: string, fn: (...args: A) => Promise<void>) => async (...args: A): Promise<void> => {
    try {
      await fn(...args);
    } catch (err) {
      if (!failedOnce.has(name)) log.error({ err }, `build recorder: ${name} failed`);
      failedOnce.add(name);
    }
  };
  return {
    queued: guard("queued", (id, request) => recorder.queued(id, request)),
    started: guard("started", (id) => recorder.started(id)),
    output: guard("output", (id, chunk) => recorder.output(id, chunk)),
    finished: (request, result) => recorder.finished(request, result),
  };
}

/** The caller's output must not break a build (a pusher that vanished is its problem, not ours). */
function safeOutput(output: BuildOutput, log: Logger): BuildOutput {
  let warned = false;
  return {
    write(chunk) {
      try {
        output.write(chunk);
      } catch (err) {
        if (!warned) log.warn({ err }, "writing build output failed");
        warned = true;
      }
    },
  };
}
