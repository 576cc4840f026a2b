import type { Config } from "../config/parse-config.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { SlugforgeError, isSlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { runOneOff } from "../runs/one-off.js";
import type { SlugStore } from "../slug/slug-store.js";
import type { BuildPrinter } from "./build-printer.js";
import { SERVER_LABEL } from "./container-exec.js";
import { startDeadline } from "./deadline.js";
import { formatDuration } from "./format-duration.js";

/*
 * The one-off processes a push runs around a release (Heroku's one-off dynos, src/runs/one-off.ts):
 * the Procfile's `release:` command before it, app.json's `scripts.postdeploy` after the first.
 * Each runs in a container of the new slug on the run image, with the config vars the release has,
 * its output streamed to the push, within SLUGFORGE_RELEASE_TIMEOUT.
 */

export interface ReleaseProcessDeps {
  readonly runtime: ContainerRuntime;
  readonly config: Pick<Config, "stack" | "releaseTimeoutMs" | "buildNetwork" | "buildMounts">;
  readonly slugStore: SlugStore;
  /** Labels the containers, so this server's sweeps know them. */
  readonly serverId: string;
  /** The config vars of the app's releases. */
  readonly configVars: (app: string) => Promise<Record<string, string>>;
}

/** The slug a push made, with its process types. */
export interface NewSlug {
  readonly id: string;
  readonly processTypes: Readonly<Record<string, string>>;
}

export interface ReleaseProcesses {
  /** The Procfile's `release:` command; RELEASE_PHASE_FAILED when it exits non-zero or runs too long. */
  releasePhase(app: string, slug: NewSlug, command: string, out: BuildPrinter, log: Logger, cancel: AbortSignal): Promise<void>;
  /** app.json's postdeploy, after v1 is kept: its exit code is reported, the release stays. */
  postdeploy(app: string, slug: NewSlug, command: string, out: BuildPrinter, log: Logger, cancel: AbortSignal): Promise<void>;
}

export function createReleaseProcesses(deps: ReleaseProcessDeps): ReleaseProcesses {
  const limit = (): string => `${formatDuration(deps.config.releaseTimeoutMs)} (SLUGFORGE_RELEASE_TIMEOUT)`;

  /** Its exit code, or "timeout" when the time limit stopped it. */
  const run = async (app: string, slug: NewSlug, args: readonly string[], purpose: string, out: BuildPrinter, log: Logger, cancel: AbortSignal): Promise<number | "timeout"> => {
    const file = await deps.slugStore.get(slug.id);
    if (!file) throw new SlugforgeError("INTERNAL", `the new slug ${slug.id} is missing from the store`);
    const deadline = startDeadline(cancel, deps.config.releaseTimeoutMs);
    const stdout = out.stream();
    const stderr = out.stream();
    try {
      return await runOneOff({
        runtime: deps.runtime,
        stack: deps.config.stack,
        app,
        from: { slug: file },
        processTypes: slug.processTypes,
        args,
        env: await deps.configVars(app),
        network: deps.config.buildNetwork,
        mounts: deps.config.buildMounts,
        stdout,
        stderr,
        signal: deadline.signal,
        log,
        purpose,
        labels: { [SERVER_LABEL]: deps.serverId },
      });
    } catch (err) {
      const reason = deadline.signal.reason as unknown;
      if (isSlugforgeError(reason) && reason.code === "BUILD_TIMEOUT") return "timeout";
      throw deadline.signal.aborted ? reason : err;
    } finally {
      stdout.flushNow();
      stderr.flushNow();
      deadline.dispose();
    }
  };

  return {
    async releasePhase(app, slug, command, out, log, cancel) {
      out.step(`Running release command: ${command}`);
      const outcome = await run(app, slug, ["release"], "release-phase", out, log, cancel);
      if (outcome === "timeout") throw new SlugforgeError("RELEASE_PHASE_FAILED", `The release command ran longer than ${limit()} and was stopped; nothing was released.`);
      if (outcome !== 0) throw new SlugforgeError("RELEASE_PHASE_FAILED", `The release command exited with ${outcome}; nothing was released.`, { data: { exitCode: outcome } });
      out.detail("Release command done");
    },
    async postdeploy(app, slug, command, out, log, cancel) {
      out.step(`Running app.json postdeploy script: ${command}`);
      // A shell command line, as Heroku runs it; never taken for a process type's name.
      const outcome = await run(app, slug, ["bash", "-c", command], "postdeploy", out, log, cancel);
      if (outcome === "timeout") out.error(`app.json postdeploy ran longer than ${limit()} and was stopped; v1 is released all the same.`);
      else if (outcome !== 0) out.error(`app.json postdeploy exited with ${outcome}; v1 is released all the same. Fix it and run it by hand: \`slugforge run ${app} -- bash -c '<command>'\`.`);
      else out.detail("Postdeploy script done");
    },
  };
}
