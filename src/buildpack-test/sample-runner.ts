import type { SessionDeps } from "../builds/session.js";
import type { Detection } from "../builds/steps/step.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { isSlugforgeError } from "../errors.js";
import type { SlugStore } from "../slug/slug-store.js";
import { bootAndProbe } from "./boot-probe.js";
import { describeError, runSession, type BuildRun, type RunSetup } from "./build-run.js";
import { checkedCompile, type CompileChecks } from "./compile-checks.js";
import { DEFAULT_PROBE, type Expectations } from "./expectations.js";
import type { Observation, Observed } from "./observed.js";
import { slugEntries } from "./slug-entries.js";
import { hasTestpack, runTests, testCompile } from "./testpack.js";

export interface SampleRunOptions {
  readonly setup: RunSetup;
  readonly runtime: ContainerRuntime;
  readonly slugStore: SlugStore;
  readonly expectations: Expectations;
  /** Boot and probe even when the expectations do not ask for it. */
  readonly boot: boolean;
  readonly config: SessionDeps["config"];
  /** Told when a phase starts and ends (progress for people). */
  readonly progress?: (phase: string, state: "started" | "done") => void;
}

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

  const named = { named: setup.buildpacks };
  say("detect, compile", "started");
  const coldChecks: CompileChecks = { writesOutside: [], exportErrors: [] };
  let detections: readonly Detection[] = [];
  const cold = await runSession(setup, async (session, as) => {
    const { buildpacks } = await as("detect", async () => {
      await session.open();
      await session.source();
      try {
        const found = await session.detect(named);
        detections = found.detections;
        return found;
      } catch (err) {
        // A refusal keeps each bin/detect that ran: the contract checks read them.
        if (isSlugforgeError(err) && Array.isArray(err.data.detections)) detections = err.data.detections as Detection[];
        throw err;
      }
    });
    await as("compile", async () => {
      await session.writeEnv(setup.configVars);
      await session.restoreCaches(buildpacks);
      await checkedCompile(session, buildpacks, coldChecks);
      await session.keepCaches(buildpacks);
    });
  });
  say("detect, compile", "done");
  observed.detect = { ...observation(cold, "detect", "buildpacks"), detections };
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
  let released: WarmRelease | undefined;
  const warm = await runSession(setup, async (session, as) => {
    const { sourceDate, buildpacks } = await as("warm-compile", async () => {
      await session.open();
      const source = await session.source();
      const found = await session.detect(named);
      await session.writeEnv(setup.configVars);
      await session.restoreCaches(found.buildpacks);
      await checkedCompile(session, found.buildpacks, warmChecks);
      return { sourceDate: source.sourceDate, buildpacks: found.buildpacks };
    });
    await as("release", async () => {
      const { release, processTypes } = await session.release(buildpacks);
      released = { release, processTypes };
      released.slugId = (await session.slug(sourceDate)).id;
    });
  });
  say("warm-compile", "done");
  observed.warmCompile = { ...observation(warm, "warm-compile", "compile"), checks: warmChecks, ...timed(warmChecks) };
  if (!observed.warmCompile.error) {
    const slug = released?.slugId ? await options.slugStore.get(released.slugId) : undefined;
    observed.release = {
      ...observation(warm, "release", "release"),
      release: released?.release,
      processTypes: released?.processTypes ?? {},
      slugFiles: slug ? await slugEntries(slug) : undefined,
    };
  } else skipRest("the warm compile failed", "release", "boot");

  if (await hasTestpack(setup.buildpacks)) {
    say("test", "started");
    const test = await runSession(setup, async (session, as) => {
      await as("test", async () => {
        await session.open();
        await session.source();
        const { buildpacks } = await session.detect(named);
        await session.writeEnv(setup.configVars);
        await session.restoreCaches(buildpacks);
        await session.run("test-compile", (step) => testCompile(step, buildpacks));
        await session.run("test", (step) => runTests(step, buildpacks));
      });
    });
    say("test", "done");
    observed.test = observation(test, "test", "test-compile", "test");
  } else skipRest("no bin/test-compile or bin/test", "test");

  const probe = exp.probe ?? (options.boot ? DEFAULT_PROBE : undefined);
  if (!probe) skipRest("no probe asked for", "boot");
  else if (observed.release && !observed.release.error && released?.slugId) {
    say("boot", "started");
    observed.boot = await boot(options, released, probe);
    say("boot", "done");
  } else skipRest("no slug to boot", "boot");
  return observed;
}

/** What the warm run's release step made. */
interface WarmRelease {
  release: NonNullable<Observed["release"]>["release"];
  processTypes: Readonly<Record<string, string>>;
  slugId?: string;
}

async function boot(options: SampleRunOptions, warm: WarmRelease, probe: NonNullable<Expectations["probe"]>): Promise<NonNullable<Observed["boot"]>> {
  const { setup, config } = options;
  const command = warm.processTypes[probe.process];
  if (!command) {
    const types = Object.keys(warm.processTypes).join(", ") || "none";
    return { ms: 0, output: "", status: 0, body: "", error: `no "${probe.process}" process type to boot (process types: ${types})` };
  }
  const started = Date.now();
  try {
    const slug = await options.slugStore.get(warm.slugId!);
    if (!slug) throw new Error("the slug is missing from the store");
    const answer = await bootAndProbe(options.runtime, slug, {
      stack: config.stack,
      network: config.buildNetwork,
      mounts: config.buildMounts,
      command,
      processType: probe.process,
      path: probe.path,
      env: { ...warm.release?.configVars, ...setup.configVars },
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
function observation(run: BuildRun, label: string, ...timed: string[]): Observation {
  const ms = run.phases.filter((p) => timed.includes(p.phase)).reduce((sum, p) => sum + p.ms, 0);
  const error = run.failed?.label === label ? describeError(run.failed.error) : undefined;
  return { ms, output: run.output.get(label) ?? "", error };
}
