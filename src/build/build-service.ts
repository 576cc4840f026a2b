import { createHash, randomUUID } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { createBuildpackResolver } from "../buildpacks/resolve-buildpacks.js";
import type { Config } from "../config/parse-config.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { ERROR_CODES, SlugforgeError, isSlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import type { SlugStore } from "../slug/slug-store.js";
import type { BuildContext, PipelineDeps } from "./build-context.js";
import { createBuildPrinter, type BuildPrinter } from "./build-printer.js";
import { createBuildQueue } from "./build-queue.js";
import { startDeadline } from "./deadline.js";
import { runPipeline } from "./pipeline.js";
import { sweepStrayContainers } from "./sweep.js";
import type { BuildOutput, BuildRequest, BuildResult, Builder } from "./types.js";

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
  /** Where slugs go (e.g. createFsSlugStore(<dataDir>/slugs)); without it, `<dataDir>/slugs/<sha256>.tar.gz` files. */
  readonly slugStore?: SlugStore;
  /** Names this server's build containers (label org.slugforge.server); default: hash of host name and data dir. */
  readonly serverId?: string;
}

export interface BuildService extends Builder {
  /** Removes build containers left by an earlier process; call once at start. */
  sweepStrayContainers(): Promise<number>;
  /** Builds running and waiting for a slot. */
  stats(): { running: number; waiting: number };
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
    slugsDir: path.join(dataDir, "slugs"),
    slugStore: deps.slugStore,
    cacheDir: path.join(dataDir, "cache"),
    buildpacks: createBuildpackResolver({
      shippedDir: deps.buildpacksDir,
      shippedOrder: deps.shippedBuildpacks ?? ["python"],
      gitCacheDir: path.join(dataDir, "buildpacks"),
    }),
  };

  const build = async (request: BuildRequest, output: BuildOutput, signal: AbortSignal): Promise<BuildResult> => {
    const buildId = randomUUID();
    const log = deps.log.child({ buildId, app: request.app, commit: request.commit });
    const out = createBuildPrinter(safeOutput(output, log));
    out.step(`Build ${buildId} of ${request.app} (${request.commit.slice(0, 7)})`);
    try {
      if (!APP_NAME.test(request.app)) throw new SlugforgeError("APP_NAME_INVALID", `"${request.app}" is not a valid app name.`);
      const made = await queue.run(request.app, signal, (w) => tellWaiting(out, w), async () => {
        log.info("build started");
        const deadline = startDeadline(signal, deps.config.buildTimeoutMs);
        const ctx: BuildContext = {
          buildId, request, out, log, signal: deadline.signal, deps: pipelineDeps,
          configVars: {}, buildpacks: [], processTypes: {},
        };
        try {
          ctx.configVars = await deps.getConfigVars(request.app);
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
      return { buildId, status: "succeeded", slugPath: made.slug?.path, slug: made.slug, processTypes: made.processTypes };
    } catch (err) {
      const cancelledWhileWaiting = signal.aborted && !isSlugforgeError(err);
      return failed(buildId, cancelledWhileWaiting ? new SlugforgeError("BUILD_CANCELLED", "The build was cancelled before it started.") : err, out, log);
    }
  };

  return {
    build,
    sweepStrayContainers: () => sweepStrayContainers(deps.runtime, serverId, deps.log),
    stats: () => ({ running: queue.running, waiting: queue.waiting }),
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
