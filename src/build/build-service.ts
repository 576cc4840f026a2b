import { createHash, randomUUID } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { createBuildpackResolver } from "../buildpacks/resolve-buildpacks.js";
import type { Config } from "../config/parse-config.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { ERROR_CODES, SlugforgeError, isSlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { createFsSlugStore } from "../slug/fs-slug-store.js";
import type { SlugStore } from "../slug/slug-store.js";
import type { BuildContext, PipelineDeps } from "./build-context.js";
import { createBuildPrinter, type BuildPrinter } from "./build-printer.js";
import { createBuildQueue } from "./build-queue.js";
import { createMaskedOutput, secretsOf } from "./secret-masker.js";
import { startDeadline } from "./deadline.js";
import { runPipeline } from "./pipeline.js";
import { cachesOf, sweepCacheWork } from "./phases/cache-phase.js";
import { sweepStrayContainers } from "./sweep.js";
import type { BuildOutput, BuildRecorder, BuildRequest, BuildResult, Builder } from "./types.js";

export interface BuildServiceDeps {
  readonly runtime: ContainerRuntime;
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
  /** Names this server's build containers (label org.slugforge.server); default: hash of host name and data dir. */
  readonly serverId?: string;
  /** Keeps build records, output, slugs and releases (the metadata store's recorder in the server). */
  readonly recorder?: BuildRecorder;
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
  /** Waits for background cache work and removes containers prepared for next builds. */
  close(): Promise<void>;
}

const APP_NAME = /^[a-z][a-z0-9-]{1,29}$/;

export function createBuildService(deps: BuildServiceDeps): BuildService {
  const dataDir = deps.dataDir ?? deps.config.dataDir;
  const queue = createBuildQueue(deps.config.buildConcurrency);
  const serverId = deps.serverId ?? createHash("sha256").update(`${os.hostname()}:${path.resolve(dataDir)}`).digest("hex").slice(0, 16);
  const pipelineDeps: PipelineDeps = {
    runtime: deps.runtime,
    serverId,
    config: deps.config,
    getConfigVars: deps.getConfigVars,
    slugStore: deps.slugStore ?? createFsSlugStore(path.join(dataDir, "slugs")),
    cacheDir: path.join(dataDir, "cache"),
    busy: () => queue.waiting > 0 || queue.running > 0,
    buildpacks: createBuildpackResolver({
      shippedDir: deps.buildpacksDir,
      shippedOrder: deps.shippedBuildpacks ?? ["python"],
      gitCacheDir: path.join(dataDir, "buildpacks"),
    }),
  };

  const build = async (request: BuildRequest, output: BuildOutput, signal: AbortSignal): Promise<BuildResult> => {
    const buildId = request.buildId ?? randomUUID();
    const log = deps.log.child({ buildId, app: request.app, commit: request.commit });
    const recorder = deps.recorder ? safeRecorder(deps.recorder, log) : undefined;
    recorder?.queued(buildId, request);
    // Masked before the tee: the pusher and the stored output see the same, secret-free bytes.
    const masked = createMaskedOutput(safeOutput(teeOutput(output, recorder, buildId), log));
    const out = createBuildPrinter(masked);
    let ctx: BuildContext | undefined;
    const finish = (result: BuildResult): BuildResult => {
      const done: BuildResult = {
        ...result,
        // The message is kept with the build and printed by the git layer, outside this output.
        ...(result.error ? { error: { ...result.error, message: masked.maskText(result.error.message) } } : {}),
        buildpacks: ctx?.buildpacks.map((b) => (b.commit ? `${b.spec}@${b.commit}` : b.spec)) ?? [],
        phases: ctx?.phases ?? [],
      };
      // The held-back tail goes out before the record says the build ended, so a follower reads it.
      masked.end();
      const lines = recorder?.finished(request, done);
      if (lines && lines.length) {
        out.step("Launching...");
        for (const line of lines) out.detail(line);
      }
      masked.end();
      return done;
    };
    out.step(`Build ${buildId} of ${request.app} (${request.commit.slice(0, 7)})`);
    try {
      if (!APP_NAME.test(request.app)) throw new SlugforgeError("APP_NAME_INVALID", `"${request.app}" is not a valid app name.`);
      const made = await queue.run(request.app, signal, (w) => tellWaiting(out, w), async () => {
        log.info("build started");
        recorder?.started(buildId);
        const deadline = startDeadline(signal, deps.config.buildTimeoutMs);
        ctx = {
          buildId, request, out, log, signal: deadline.signal, deps: pipelineDeps,
          configVars: {}, buildpacks: [], processTypes: {}, phases: [],
        };
        try {
          ctx.configVars = await deps.getConfigVars(request.app);
          masked.mask(secretsOf(Object.values(ctx.configVars)));
          await runPipeline(ctx);
          return { processTypes: ctx.processTypes, slug: ctx.slug };
        } catch (err) {
          // After an abort, whatever broke (a killed exec, a cut stream) is the abort's doing.
          throw deadline.signal.aborted ? deadline.signal.reason : err;
        } finally {
          deadline.dispose();
        }
      });
      log.info({ slug: made.slug }, "build succeeded");
      return finish({ buildId, status: "succeeded", slug: made.slug, processTypes: made.processTypes });
    } catch (err) {
      const cancelledWhileWaiting = signal.aborted && !isSlugforgeError(err);
      return finish(failed(buildId, cancelledWhileWaiting ? new SlugforgeError("BUILD_CANCELLED", "The build was cancelled before it started.") : err, out, log));
    }
  };

  return {
    build,
    async sweepStrayContainers() {
      const removed = await sweepStrayContainers(deps.runtime, serverId, deps.log);
      const folders = await sweepCacheWork(pipelineDeps.cacheDir);
      if (folders > 0) deps.log.warn({ folders }, "removed build cache folders a stopped process left");
      return removed;
    },
    stats: () => ({ running: queue.running, waiting: queue.waiting, cacheCopies: cachesOf(pipelineDeps).pending() }),
    idle: () => cachesOf(pipelineDeps).idle(),
    forgetApp: (app) => cachesOf(pipelineDeps).forget(app, pipelineDeps.cacheDir),
    close: () => cachesOf(pipelineDeps).close(),
  };
}

function tellWaiting(out: BuildPrinter, w: { sameApp: boolean; running: number; waiting: number }): void {
  if (w.sameApp) out.step("Waiting for the previous build of this app to finish");
  else out.step(`Waiting for a build slot (${w.running + w.waiting} build${w.running + w.waiting === 1 ? "" : "s"} ahead)`);
}

/** Turns any failure into a result: the code and build id on the last line, never a stack for the pusher. */
function failed(buildId: string, err: unknown, out: BuildPrinter, log: Logger): BuildResult {
  const known = isSlugforgeError(err) ? err : undefined;
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
      recorder.output(buildId, typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk);
      output.write(chunk);
    },
  };
}

/** A recorder that fails (a full disk) is logged; the build and the pusher carry on. */
function safeRecorder(recorder: BuildRecorder, log: Logger): BuildRecorder {
  const guard = <A extends unknown[]>(name: string, fn: (...args: A) => void) => (...args: A): void => {
    try {
      fn(...args);
    } catch (err) {
      log.error({ err }, `build recorder: ${name} failed`);
    }
  };
  return {
    queued: guard("queued", (id, request) => recorder.queued(id, request)),
    started: guard("started", (id) => recorder.started(id)),
    output: guard("output", (id, chunk) => recorder.output(id, chunk)),
    finished: (request, result) => {
      try {
        return recorder.finished(request, result);
      } catch (err) {
        log.error({ err }, "build recorder: finished failed");
        return undefined;
      }
    },
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
