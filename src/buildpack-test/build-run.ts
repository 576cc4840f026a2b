import { randomUUID } from "node:crypto";
import { createBuildPrinter } from "../builds/build-printer.js";
import { BuildSession, type PhaseTiming, type SessionDeps } from "../builds/session.js";
import type { ResolvedBuildpack } from "../buildpacks/resolve-buildpacks.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";

/** What every build of one sample shares. */
export interface RunSetup {
  readonly deps: SessionDeps;
  /** The buildpacks under test, in order, and the config vars every build sees. */
  readonly buildpacks: readonly ResolvedBuildpack[];
  readonly configVars: Readonly<Record<string, string>>;
  /**
   * The sample's name as the build's app (names its cache folder and its containers' label), and
   * its commit in its own repository.
   */
  readonly app: string;
  readonly sample: { readonly gitDir: string; readonly commit: string };
  readonly log: Logger;
  /** Each step's wall-clock limit. */
  readonly timeoutMs: number;
  /** Stops the whole run (Ctrl-C). */
  readonly signal: AbortSignal;
}

export interface BuildRun {
  /** Output per label, as the pusher would have seen it. */
  readonly output: ReadonlyMap<string, string>;
  /** Wall time per label (the sum of its steps). */
  readonly ms: ReadonlyMap<string, number>;
  /** Wall time of each session step that ran. */
  readonly phases: readonly PhaseTiming[];
  /** The label whose work threw, and what it threw. */
  readonly failed?: { readonly label: string; readonly error: unknown };
}

/** Runs `work` as one report label: its output, time and failure are that label's. */
export type Labelled = <T>(label: string, work: () => Promise<T>) => Promise<T>;

/**
 * One build session (build/'s front door, the same a push goes through) in its own container,
 * driven by `script`, with each labelled part's output and time kept under its label. Each step has
 * the run's time limit; the session is closed whatever happens.
 */
export async function runSession(setup: RunSetup, script: (session: BuildSession, as: Labelled) => Promise<void>): Promise<BuildRun> {
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
  const session = new BuildSession(setup.deps, {
    buildId,
    app: setup.app,
    commit: setup.sample.commit,
    source: { gitDir: setup.sample.gitDir },
    out,
    log: setup.log.child({ buildId, app: setup.app }),
    signal: controller.signal,
    stepTimeoutMs: setup.timeoutMs,
  });
  let failed: BuildRun["failed"];
  const as: Labelled = async (label, work) => {
    current = label;
    const started = Date.now();
    try {
      return await work();
    } catch (err) {
      failed ??= { label, error: err };
      throw err;
    } finally {
      ms.set(label, (ms.get(label) ?? 0) + Date.now() - started);
    }
  };
  try {
    await script(session, as);
  } catch (err) {
    failed ??= { label: current, error: err };
  } finally {
    await session.close();
    setup.signal.removeEventListener("abort", onCancel);
  }
  const output = new Map([...chunks].map(([k, v]) => [k, Buffer.concat(v).toString("utf8")]));
  return { output, ms, phases: session.phases, failed };
}

/** What a failure says, for a report line. */
export function describeError(err: unknown): string {
  if (err instanceof SlugforgeError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
