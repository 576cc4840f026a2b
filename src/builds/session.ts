import { buildpackDigest } from "../buildpacks/buildpack-digest.js";
import type { BuildpackResolver, ResolvedBuildpack } from "../buildpacks/resolve-buildpacks.js";
import type { Config } from "../config/parse-config.js";
import type { Container } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import type { SlugStore } from "../slug/slug-store.js";
import type { DiskGuard } from "../util/disk-space.js";
import { closeBuildContainer, keepMountedCaches, laidBelowOf, laidSlugOf, openBuildContainer, restoreCaches, upperDirOf, type CacheState, type ContainerDeps, type NextBuildInputs } from "./build-container.js";
import type { BuildPrinter } from "./build-printer.js";
import type { InContainer } from "./container-exec.js";
import { formatDuration } from "./format-duration.js";
import { buildInputs, stackImages, type BuildInputs, type StackImages } from "./build-inputs.js";
import { readPushedCommit } from "./git-source.js";
import type { StackImageIds } from "./stack-image-ids.js";
import type { AppJson } from "./app-json.js";
import { readAppJson } from "./steps/app-json.js";
import { buildpacksKey } from "./laid-inputs.js";
import { chooseBuildpacks, detectBuildpacks, installBuildpacks, installedDir, type BuildpackCandidates, type DetectResult, type InstalledCandidates, type Laid } from "./steps/buildpacks.js";
import { compile } from "./steps/compile.js";
import { writeEnvDir } from "./steps/env.js";
import { release, type ReleaseResult } from "./steps/release.js";
import { makeSlug, type BuiltSlug } from "./steps/slug.js";
import { putSource, type SourceResult } from "./steps/source.js";
import type { InstalledBuildpack, StepContext } from "./steps/step.js";
import type { PreparedStandbys } from "./standby-exec.js";
import type { SourceRef } from "./types.js";

/*
 * The front door of building. A BuildSession is one build container and the Buildpack API steps
 * run in it: source, detect, env, caches, compile, release, slug, keep the caches (app.json and the
 * buildpacks' resolution come first and need no container). Each step takes
 * what it needs and returns a typed result (as buildpacks/lifecycle's detector, builder and
 * exporter do); nothing moves through shared mutable state. A push's build (buildApp, driven by
 * the build service), `slugforge buildpack test` and the tests all go through it. The session
 * times every step (the build record's phases) and owns the container: close() removes it, or hands
 * it to the background that keeps its caches.
 */

/** What a session needs from the rest of the server; the build service (or the tester) makes it. */
export interface SessionDeps extends ContainerDeps {
  readonly config: ContainerDeps["config"] & Pick<Config, "maxSlugBytes">;
  /** Resolves the buildpacks an app names (or the shipped ones). */
  readonly buildpacks: BuildpackResolver;
  readonly slugStore: SlugStore;
  /** The slug of an app's current release (steps/slug.ts: block reuse on a node that did not write it). */
  readonly lastSlugId?: (app: string) => Promise<string | undefined>;
  /** Refuses to write a slug (STORAGE_FULL) while the data folder's disk is under its reserve. */
  readonly disk?: DiskGuard;
  /** The stack's image ids kept between builds on this engine (stack-image-ids.ts); default: asked for each build. */
  readonly stackImageIds?: StackImageIds;
}

export interface SessionOptions {
  readonly buildId: string;
  readonly app: string;
  /** The commit to build. */
  readonly commit: string;
  /** Where the commit can be read (perhaps from git's quarantine). */
  readonly source: SourceRef;
  /** The build's output for people. */
  readonly out: BuildPrinter;
  readonly log: Logger;
  /** Aborted on cancel or the build's deadline: the container is removed at once. */
  readonly signal: AbortSignal;
  /** A time limit for each step on its own (`buildpack test`); a push has one deadline for all (signal). */
  readonly stepTimeoutMs?: number;
}

export interface PhaseTiming {
  readonly phase: string;
  readonly ms: number;
}

export class BuildSession {
  readonly buildId: string;
  readonly app: string;
  readonly commit: string;
  /** Wall time of each step that ran, in order. */
  readonly phases: PhaseTiming[] = [];
  private opened?: { container: Container; cache: CacheState };
  private keep?: readonly InstalledBuildpack[];
  private closed = false;
  private stack?: Promise<StackImages>;
  private readonly digests = new Map<string, Promise<string>>();
  /** What this build put in its container, for the app's next one (layer mode). */
  private readonly laidNext: { buildpacks?: NonNullable<NextBuildInputs["buildpacks"]>; configVars?: Readonly<Record<string, string>> } = {};

  constructor(
    private readonly deps: SessionDeps,
    private readonly options: SessionOptions,
  ) {
    this.buildId = options.buildId;
    this.app = options.app;
    this.commit = options.commit;
  }

  /**
   * One fresh container from the stack's build image, with the app's caches in place
   * (build-container.ts), or none of them with `freshCache` (`git push -o clear-cache`).
   */
  async open(options: { readonly freshCache?: boolean } = {}): Promise<void> {
    await this.step("container", async () => {
      const { signal, log } = this.options;
      signal.throwIfAborted();
      const opened = await openBuildContainer(this.deps, this, log, signal, options);
      this.opened = opened;
      // Aborting (cancel, timeout) removes the container at once, which ends whatever runs in it.
      const onAbort = (): void => void opened.container.remove().catch((err: unknown) => log.warn({ err }, "removing the build container failed"));
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      signal.throwIfAborted();
    });
  }

  /** The build container, for checks around the steps (`docker diff`, commands of the tester's own). */
  get container(): Container {
    if (!this.opened) throw new SlugforgeError("INTERNAL", `build ${this.buildId}: no build container yet`);
    return this.opened.container;
  }

  /**
   * The pushed commit into /app (`.slugignore` applied). Given the build's buildpack candidates,
   * when the prepared container holds both an earlier commit and these very buildpacks, their
   * bin/detect runs in the same exec, right after /app is updated (detect() then uses the results).
   */
  source(candidates?: BuildpackCandidates): Promise<SourceResult> {
    const cache = this.opened?.cache;
    const laid = cache?.mode === "layer" ? cache.source : undefined;
    return this.step("source", async (step) => {
      const same = laid && candidates && (await this.laidBuildpacks(candidates).then((b) => b.laid === "same", () => false));
      const ahead = same ? { dirs: candidates.candidates.map(installedDir), everyOne: candidates.everyOne } : undefined;
      return putSource(step, this.options.source, laid, { ahead, standby: this.standbys()?.source });
    });
  }

  /**
   * Starts the reads the first steps wait for, side by side: the pushed commit (app.json,
   * `.buildpacks`, its tree; one git process), the stack's image ids and the shipped buildpacks'
   * digests (inputs: most apps use the shipped ones; an app that names its own wastes a small
   * read). Each step still awaits its own part and reports its failure; a push whose slug is
   * reused has its inputs once the slowest read is done instead of after all of them in turn.
   * Call once the build has its slot, so the image ids are the engine's at the build's start.
   */
  readAhead(): void {
    const { source, signal } = this.options;
    readPushedCommit(source, this.commit, signal).catch(() => undefined);
    this.stackImages().catch(() => undefined);
    this.deps.buildpacks
      .shipped()
      .then((shipped) => shipped.forEach((bp) => void this.digestOf(bp.hostDir).catch(() => undefined)))
      .catch(() => undefined);
  }

  /** The commit's app.json (APP_JSON_INVALID when malformed), its ignored keys noted in the output; needs no container. */
  appJson(): Promise<AppJson | undefined> {
    return this.step("app-json", (step) => readAppJson(step, this.options.source));
  }

  /** The app's buildpacks (BUILDPACK_URL, `.buildpacks`, app.json's or the shipped ones), resolved: needs no container. */
  resolveBuildpacks(configVars: Readonly<Record<string, string>>): Promise<BuildpackCandidates> {
    return this.step("resolve", (step) => chooseBuildpacks(this.deps.buildpacks, { commit: this.commit, configVars, source: this.options.source }, step.signal));
  }

  /**
   * What the build's result depends on (tree, buildpacks, stack images, config): a push with the
   * inputs of an earlier build can reuse its slug.
   */
  inputs(configVars: Readonly<Record<string, string>>, buildpacks: BuildpackCandidates): Promise<BuildInputs> {
    return this.step("inputs", (step) =>
      buildInputs({ stack: this.stackImages(), digest: (dir) => this.digestOf(dir) }, { source: this.options.source, commit: this.commit, configVars }, buildpacks.candidates, step.signal),
    );
  }

  /**
   * The candidates copied into the container, ready for detect (which needs the source too); in
   * layer mode, none when the prepared container holds the same ones already.
   */
  installBuildpacks(candidates: BuildpackCandidates): Promise<InstalledCandidates> {
    const cache = this.opened?.cache;
    return this.step("install", async (step) => {
      if (cache?.mode !== "layer") return installBuildpacks(step, candidates);
      const copies = candidates.candidates.map((bp, i) => ({ dir: installedDir(bp, i), hostDir: bp.hostDir }));
      const { key, laid } = await this.laidBuildpacks(candidates);
      const installed = await installBuildpacks(step, candidates, laid);
      this.laidNext.buildpacks = { copies, key };
      return installed;
    });
  }

  /** The buildpacks that accept the app, installed in the container; `ahead`: bin/detect results the source step gave. */
  detect(
    choice: { named: readonly ResolvedBuildpack[] } | BuildpackCandidates | InstalledCandidates | { configVars: Readonly<Record<string, string>> },
    ahead?: SourceResult["detected"],
  ): Promise<DetectResult> {
    const cache = this.opened?.cache;
    const laid = cache?.mode === "layer" ? cache.laid?.buildpacks : undefined;
    return this.step("buildpacks", (step) =>
      detectBuildpacks(step, "configVars" in choice ? { resolver: this.deps.buildpacks, configVars: choice.configVars, source: this.options.source } : choice, laid, ahead),
    );
  }

  /** ENV_DIR, one file per config var. */
  writeEnv(configVars: Readonly<Record<string, string>>): Promise<void> {
    const cache = this.opened?.cache;
    return this.step("env", async (step) => {
      await writeEnvDir(step, configVars, cache?.mode === "layer" ? cache.laid?.env : undefined);
      this.laidNext.configVars = configVars;
    });
  }

  /** Each buildpack's CACHE_DIR, as the app's last successful build left it. */
  restoreCaches(buildpacks: readonly InstalledBuildpack[]): Promise<void> {
    return this.step("cache-restore", (step) => restoreCaches(step, this.cache(), buildpacks));
  }

  /**
   * Each buildpack's bin/compile in order; COMPILE_FAILED when one exits non-zero. The first runs
   * in the exec a prepared container started for it, when there is one.
   */
  compile(buildpacks: readonly InstalledBuildpack[]): Promise<void> {
    const standby = this.standbys()?.compile;
    return this.step("compile", (step) => compile(step, buildpacks, standby));
  }

  /** bin/release of the last buildpack (in the exec a prepared container started for it, when there is one) and the Procfile. */
  release(buildpacks: readonly InstalledBuildpack[]): Promise<ReleaseResult> {
    const standby = this.standbys()?.release;
    return this.step("release", (step) => release(step, buildpacks, standby));
  }

  /** The execs a prepared container started for this build's programs (layer mode), if any. */
  private standbys(): PreparedStandbys | undefined {
    const cache = this.opened?.cache;
    return cache?.mode === "layer" ? cache.standbys : undefined;
  }

  /** /app as a content-addressed slug; with `after`, kept only once that has succeeded (bin/release, run side by side). */
  slug(sourceDate: Date | undefined, after?: Promise<unknown>): Promise<BuiltSlug> {
    const { slugStore, config, caches, disk, lastSlugId } = this.deps;
    return this.step("slug", (step) => makeSlug(step, { slugStore, maxSlugBytes: config.maxSlugBytes, cacheDir: caches.cacheDir, disk, lastSlugId }, sourceDate, after));
  }

  /** Keeps the buildpacks' caches as this build left them (call only once the build has succeeded). */
  keepCaches(buildpacks: readonly InstalledBuildpack[]): Promise<void> {
    return this.step("cache-save", async (step) => {
      this.keep = buildpacks;
      await keepMountedCaches(this.deps, step, this.cache(), buildpacks, this.options.log);
    });
  }

  /**
   * A step of the tester's own (the testpack, contract checks) in this session's container, with
   * the same timing, time limit and signal as the built-in ones.
   */
  run<T>(name: string, work: (step: StepContext) => Promise<T>): Promise<T> {
    return this.step(name, work);
  }

  /**
   * The container goes, or, when keepCaches() ran and the build was not cancelled, is handed to
   * the background that keeps the caches and prepares the app's next container. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.closed || !this.opened) return;
    this.closed = true;
    // Execs the prepared container held for programs this build did not run in them end first.
    const { cache } = this.opened;
    if (cache.mode === "layer" && cache.standbys) await cache.standbys.dispose();
    const inContainer: InContainer = { ...this.identity(), container: this.opened.container, signal: this.options.signal };
    // A build that succeeded leaves its commit, buildpacks and ENV_DIR in the app's next container (layer mode).
    const next = this.keep ? { repo: { gitDir: this.options.source.gitDir }, ...this.laidNext } : undefined;
    await closeBuildContainer(this.deps, inContainer, this.opened.cache, this.keep, this.options.log, next).catch((err: unknown) =>
      this.options.log.warn({ err }, "cleaning up after the build failed"),
    );
  }

  /** The stack's image ids, asked of this build's engine once per session. */
  private stackImages(): Promise<StackImages> {
    this.stack ??= this.deps.stackImageIds?.get(this.deps.config.stack) ?? stackImages(this.deps.runtime, this.deps.config.stack);
    return this.stack;
  }

  /**
   * The key of these candidates as installed (each one's place and digest, as laid-inputs records
   * it), and what the prepared container holds: these very ones ("same"), others ("replace"), or
   * none (undefined).
   */
  private async laidBuildpacks(candidates: BuildpackCandidates): Promise<{ key: string; laid: Laid | undefined }> {
    const digests = await Promise.all(candidates.candidates.map((bp) => this.digestOf(bp.hostDir)));
    const key = buildpacksKey(candidates.candidates.map((bp, i) => ({ dir: installedDir(bp, i), digest: digests[i]! })));
    const cache = this.opened?.cache;
    const held = cache?.mode === "layer" ? cache.laid?.buildpacks : undefined;
    return { key, laid: held === undefined ? undefined : held === key ? "same" : "replace" };
  }

  /** A folder buildpack's digest, read once per session. */
  private digestOf(hostDir: string): Promise<string> {
    const known = this.digests.get(hostDir);
    if (known) return known;
    const reading = buildpackDigest(hostDir);
    this.digests.set(hostDir, reading);
    return reading;
  }

  private identity(): { buildId: string; app: string; commit: string; stack: string } {
    return { buildId: this.buildId, app: this.app, commit: this.commit, stack: this.deps.config.stack };
  }

  private cache(): CacheState {
    if (!this.opened) throw new SlugforgeError("INTERNAL", `build ${this.buildId}: no build container yet`);
    return this.opened.cache;
  }

  /** Times a step, gives it its own time limit when the session has one, and its context. */
  private async step<T>(name: string, work: (step: StepContext) => Promise<T>): Promise<T> {
    const { signal, stepTimeoutMs, out, log } = this.options;
    signal.throwIfAborted();
    const started = Date.now();
    const limit = stepTimeoutMs === undefined ? undefined : stepDeadline(signal, name, stepTimeoutMs);
    const stepSignal = limit?.signal ?? signal;
    try {
      const containerOf = (): Container => this.container;
      const context: StepContext = {
        ...this.identity(),
        // Every step but "container" itself runs in the open container.
        get container() {
          return containerOf();
        },
        upperDir: this.opened && upperDirOf(this.opened.cache),
        laidSlug: this.opened && laidSlugOf(this.opened.cache),
        laidBelow: this.opened && laidBelowOf(this.opened.cache),
        signal: stepSignal,
        out,
        log,
      };
      return await work(context);
    } catch (err) {
      // After an abort, whatever broke (a killed exec, a cut stream) is the abort's doing.
      throw stepSignal.aborted ? stepSignal.reason : err;
    } finally {
      limit?.dispose();
      const ms = Date.now() - started;
      this.phases.push({ phase: name, ms });
      log.debug({ phase: name, ms }, "phase done");
    }
  }
}

/**
 * Steps run side by side, every one ended before this does (none is left writing into a container
 * that is going); when some fail, the first one's error, in the order given.
 */
async function inOrder<T extends readonly unknown[]>(steps: { readonly [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(steps);
  for (const s of settled) if (s.status === "rejected") throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** The session's signal, and a time limit for one step (BUILD_TIMEOUT naming the step). */
function stepDeadline(parent: AbortSignal, name: string, ms: number): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onParent = (): void => controller.abort(parent.reason);
  parent.addEventListener("abort", onParent, { once: true });
  const timer = setTimeout(() => controller.abort(new SlugforgeError("BUILD_TIMEOUT", `${name} took longer than ${formatDuration(ms)} and was stopped.`)), ms);
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      parent.removeEventListener("abort", onParent);
    },
  };
}

/** What a push's build made. */
export interface BuiltApp {
  readonly slug: BuiltSlug;
  readonly processTypes: Readonly<Record<string, string>>;
  readonly buildpacks: readonly InstalledBuildpack[];
}

/**
 * A push's build, step by step. The caches are kept last: only a build that made its slug keeps
 * them. The caller closes the session (whatever happens).
 */
export async function buildApp(
  session: BuildSession,
  configVars: Readonly<Record<string, string>>,
  options: {
    /** Resolved already (to compute the build's inputs); else resolved here. */
    readonly candidates?: BuildpackCandidates;
    /** Start without the kept caches (`git push -o clear-cache`). */
    readonly freshCache?: boolean;
    readonly onDetected?: (buildpacks: readonly InstalledBuildpack[]) => void;
  } = {},
): Promise<BuiltApp> {
  await session.open({ freshCache: options.freshCache });
  const candidates = options.candidates ?? (await session.resolveBuildpacks(configVars));
  // Each is an exec of its own into the container, and none needs another: they go side by side.
  // With the buildpacks in place already (a prepared container), the source's exec runs detect too.
  const [source, installed] = await inOrder([session.source(candidates), session.installBuildpacks(candidates), session.writeEnv(configVars)] as const);
  const { buildpacks } = await session.detect(installed, source.detected);
  options.onDetected?.(buildpacks);
  await session.restoreCaches(buildpacks);
  await session.compile(buildpacks);
  // bin/release only prints (Buildpack API), so /app is read for the slug meanwhile; the slug is
  // kept, and "Compressing..." said, only once it has succeeded.
  const releasing = session.release(buildpacks);
  const [{ processTypes }, slug] = await inOrder([releasing, session.slug(source.sourceDate, releasing)] as const);
  await session.keepCaches(buildpacks);
  return { slug, processTypes, buildpacks };
}
