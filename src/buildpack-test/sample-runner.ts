import type { Phase, PipelineDeps } from "../build/build-context.js";
import { buildpacksPhase } from "../build/phases/buildpacks-phase.js";
import { cacheRestorePhase, cacheSavePhase } from "../build/phases/cache-phase.js";
import { containerPhase } from "../build/phases/container-phase.js";
import { envPhase } from "../build/phases/env-phase.js";
import { releasePhase } from "../build/phases/release-phase.js";
import { slugPhase } from "../build/phases/slug-phase.js";
import { sourcePhase } from "../build/phases/source-phase.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import type { SlugStore } from "../slug/slug-store.js";
import { bootAndProbe } from "./boot-probe.js";
import { describeError, runBuild, type BuildRun, type RunSetup, type Step } from "./build-run.js";
import { checkedCompile, type CompileChecks } from "./compile-checks.js";
import { DEFAULT_PROBE, type Expectations } from "./expectations.js";
import type { Observation, Observed } from "./observed.js";
import { slugEntries } from "./slug-entries.js";
import { hasTestpack, testCompilePhase, testPhase } from "./testpack.js";

export interface SampleRunOptions {
  readonly setup: RunSetup;
  readonly runtime: ContainerRuntime;
  readonly slugStore: SlugStore;
  readonly expectations: Expectations;
  /** Boot and probe even when the expectations do not ask for it. */
  readonly boot: boolean;
  readonly config: PipelineDeps["config"];
  /** Told when a phase starts and ends (progress for people). */
  readonly progress?: (phase: string, state: "started" | "done") => void;
}

const prepare = (label: string): Step[] => [
  { phase: containerPhase, label },
  { phase: sourcePhase, label },
];
const restore = (label: string): Step[] => [
  { phase: envPhase, label },
  { phase: cacheRestorePhase, label },
];

/**
 * One sample through detect, a cold compile, a warm compile with the cache the first one left,
 * release and slug, the testpack, and a boot: each a run of build/'s phases in its own container.
 * Returns what happened; whether that is what was expected is evaluate()'s business.
 */
export async function observeSample(options: SampleRunOptions): Promise<Observed> {
  const { setup, expectations: exp } = options;
  const observed: Observed = { skipped: {} };
  const skipRest = (why: string, ...phases: (keyof Observed["skipped"])[]): void => {
    for (const p of phases) observed.skipped[p] ??= why;
  };
  const say = options.progress ?? (() => undefined);

  say("detect, compile", "started");
  const coldChecks: CompileChecks = { writesOutside: [], exportErrors: [] };
  const cold = await runBuild(setup, [
    ...prepare("detect"),
    { phase: buildpacksPhase, label: "detect" },
    ...restore("compile"),
    { phase: checkedCompile(coldChecks), label: "compile" },
    { phase: cacheSavePhase, label: "compile" },
  ]);
  say("detect, compile", "done");
  observed.detect = { ...observation(cold, "detect", "buildpacks"), detections: cold.ctx.detections ?? [] };
  if (observed.detect.error) {
    skipRest("detect failed", "compile", "warm-compile", "release", "test", "boot");
    return observed;
  }
  observed.compile = { ...observation(cold, "compile", "compile"), checks: coldChecks, ...timed(coldChecks) };
  if (observed.compile.error) {
    skipRest("the cold compile failed", "warm-compile", "release", "test", "boot");
    return observed;
  }

  say("warm-compile", "started");
  const warmChecks: CompileChecks = { writesOutside: [], exportErrors: [] };
  const warm = await runBuild(setup, [
    ...prepare("warm-compile"),
    { phase: buildpacksPhase, label: "warm-compile" },
    ...restore("warm-compile"),
    { phase: checkedCompile(warmChecks), label: "warm-compile" },
    { phase: releasePhase, label: "release" },
    { phase: slugPhase, label: "release" },
  ]);
  say("warm-compile", "done");
  observed.warmCompile = { ...observation(warm, "warm-compile", "compile"), checks: warmChecks, ...timed(warmChecks) };
  if (!observed.warmCompile.error) {
    const slugId = warm.ctx.slug?.id;
    const slug = slugId ? await options.slugStore.get(slugId) : undefined;
    observed.release = {
      ...observation(warm, "release", "release"),
      release: warm.ctx.release,
      processTypes: warm.ctx.processTypes,
      slugFiles: slug ? await slugEntries(slug) : undefined,
    };
  } else skipRest("the warm compile failed", "release", "boot");

  if (await hasTestpack(setup.buildpacks)) {
    say("test", "started");
    const test = await runBuild(setup, [
      ...prepare("test"),
      { phase: buildpacksPhase, label: "test" },
      ...restore("test"),
      { phase: testCompilePhase, label: "test" },
      { phase: testPhase, label: "test" },
    ]);
    say("test", "done");
    observed.test = observation(test, "test", "test-compile", "test");
  } else skipRest("no bin/test-compile or bin/test", "test");

  const probe = exp.probe ?? (options.boot ? DEFAULT_PROBE : undefined);
  if (!probe) skipRest("no probe asked for", "boot");
  else if (observed.release && !observed.release.error && warm.ctx.slug?.id) {
    say("boot", "started");
    observed.boot = await boot(options, warm, probe);
    say("boot", "done");
  } else skipRest("no slug to boot", "boot");
  return observed;
}

async function boot(options: SampleRunOptions, warm: BuildRun, probe: NonNullable<Expectations["probe"]>): Promise<NonNullable<Observed["boot"]>> {
  const { setup, config } = options;
  const command = warm.ctx.processTypes[probe.process];
  if (!command) {
    const types = Object.keys(warm.ctx.processTypes).join(", ") || "none";
    return { ms: 0, output: "", status: 0, body: "", error: `no "${probe.process}" process type to boot (process types: ${types})` };
  }
  const started = Date.now();
  try {
    const slug = await options.slugStore.get(warm.ctx.slug!.id);
    if (!slug) throw new Error("the slug is missing from the store");
    const answer = await bootAndProbe(options.runtime, slug, {
      stack: config.stack,
      network: config.buildNetwork,
      mounts: config.buildMounts,
      command,
      processType: probe.process,
      path: probe.path,
      env: { ...warm.ctx.release?.configVars, ...setup.configVars },
      timeoutMs: probe.timeoutMs,
      signal: setup.signal,
      labels: { "org.slugforge.server": setup.deps.serverId, "org.slugforge.app": setup.app },
    });
    const error = answer.status === 0 ? `the ${probe.process} process did not answer on $PORT within ${probe.timeoutMs / 1000}s` : undefined;
    return { ms: Date.now() - started, output: answer.log, status: answer.status, body: answer.body, error };
  } catch (err) {
    return { ms: Date.now() - started, output: "", status: 0, body: "", error: describeError(err) };
  }
}

function timed(checks: CompileChecks): { ms?: number } {
  return checks.compileMs === undefined ? {} : { ms: checks.compileMs };
}

/** The part of a run a report phase stands for: its output, the time of its main steps, its failure. */
function observation(run: BuildRun, label: string, ...timed: Phase["name"][]): Observation {
  const ms = run.ctx.phases.filter((p) => timed.includes(p.phase)).reduce((sum, p) => sum + p.ms, 0);
  const error = run.failed?.label === label ? describeError(run.failed.error) : undefined;
  return { ms, output: run.output.get(label) ?? "", error };
}
