import { randomUUID } from "node:crypto";
import type { BuildContext, Phase, PipelineDeps } from "../build/build-context.js";
import { createBuildPrinter } from "../build/build-printer.js";
import { formatDuration } from "../build/format-duration.js";
import { runPipeline } from "../build/pipeline.js";
import type { ResolvedBuildpack } from "../buildpacks/resolve-buildpacks.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";

/** What every build of one sample shares. */
export interface RunSetup {
  readonly deps: PipelineDeps;
  readonly buildpacks: readonly ResolvedBuildpack[];
  readonly configVars: Readonly<Record<string, string>>;
  /** The sample's name as the build's app (names its cache folder and its containers' label). */
  readonly app: string;
  readonly gitDir: string;
  readonly commit: string;
  readonly log: Logger;
  /** Each phase's wall-clock limit. */
  readonly timeoutMs: number;
  /** Stops the whole run (Ctrl-C). */
  readonly signal: AbortSignal;
}

/** A pipeline phase and the report phase its output, time and failure count towards. */
export interface Step {
  readonly phase: Phase;
  /** Report label; set-up steps (container, source, env, cache) use "setup". */
  readonly label: string;
}

export interface BuildRun {
  readonly ctx: BuildContext;
  /** Output per label, as the pusher would have seen it. */
  readonly output: ReadonlyMap<string, string>;
  /** Wall time per label (the sum of its steps). */
  readonly ms: ReadonlyMap<string, number>;
  /** The label whose step threw, and what it threw. */
  readonly failed?: { readonly label: string; readonly error: unknown };
}

/**
 * One build container through a chosen list of build/'s phases: the same code a push runs,
 * with each step's output and time kept under its label and its own time limit. The container
 * is removed by runPipeline whatever happens.
 */
export async function runBuild(setup: RunSetup, steps: readonly Step[]): Promise<BuildRun> {
  const chunks = new Map<string, Buffer[]>();
  const ms = new Map<string, number>();
  let current = "setup";
  const out = createBuildPrinter({
    write(chunk) {
      const list = chunks.get(current) ?? [];
      list.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk));
      chunks.set(current, list);
    },
  });
  const controller = new AbortController();
  const onCancel = (): void => controller.abort(new SlugforgeError("BUILD_CANCELLED", "The test run was interrupted."));
  if (setup.signal.aborted) onCancel();
  else setup.signal.addEventListener("abort", onCancel, { once: true });

  const buildId = randomUUID();
  const ctx: BuildContext = {
    buildId,
    request: { buildId, app: setup.app, commit: setup.commit, ref: "refs/heads/main", source: { gitDir: setup.gitDir }, pushOptions: [] },
    out,
    log: setup.log.child({ buildId, app: setup.app }),
    signal: controller.signal,
    deps: setup.deps,
    configVars: { ...setup.configVars },
    buildpacks: [],
    processTypes: {},
    phases: [],
    namedBuildpacks: setup.buildpacks,
  };
  let failed: BuildRun["failed"];
  const wrapped = steps.map(({ phase, label }): Phase => ({
    name: phase.name,
    async run(c) {
      current = label;
      const started = Date.now();
      const limit = setup.timeoutMs;
      const timer = setTimeout(
        () => controller.abort(new SlugforgeError("BUILD_TIMEOUT", `${label} (${phase.name}) took longer than ${formatDuration(limit)} and was stopped.`)),
        limit,
      );
      try {
        await phase.run(c);
      } catch (err) {
        // After an abort, whatever broke (a killed exec, a cut stream) is the abort's doing.
        failed ??= { label, error: controller.signal.aborted ? controller.signal.reason : err };
        throw err;
      } finally {
        clearTimeout(timer);
        ms.set(label, (ms.get(label) ?? 0) + Date.now() - started);
      }
    },
  }));
  try {
    await runPipeline(ctx, wrapped);
  } catch (err) {
    failed ??= { label: current, error: controller.signal.aborted ? controller.signal.reason : err };
  } finally {
    setup.signal.removeEventListener("abort", onCancel);
  }
  const output = new Map([...chunks].map(([k, v]) => [k, Buffer.concat(v).toString("utf8")]));
  return { ctx, output, ms, failed };
}

/** What a failure says, for a report line. */
export function describeError(err: unknown): string {
  if (err instanceof SlugforgeError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
