import { createHash, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BuildCaches } from "../builds/build-caches.js";
import type { SessionDeps } from "../builds/session.js";
import { createBuildpackResolver } from "../buildpacks/resolve-buildpacks.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import { createFsSlugStore } from "../slug/fs-slug-store.js";
import { resolveBuildpackArgs } from "./buildpack-args.js";
import { describeError } from "./build-run.js";
import { evaluate } from "./evaluate.js";
import { EXPECTATIONS_FILE, parseExpectations, type Expectations } from "./expectations.js";
import { observeSample } from "./sample-runner.js";
import { expandSamples, prepareSample, type PreparedSample } from "./samples.js";
import { PHASE_NAMES, type PhaseResult, type RunReport, type SampleResult } from "./results.js";

export interface TestRunOptions {
  readonly runtime: ContainerRuntime;
  /** Buildpack arguments in order (several: a multi-buildpack build). */
  readonly buildpacks: readonly string[];
  readonly samples: readonly string[];
  /** Stack, network, mounts, limits; `buildTimeoutMs` is each phase's limit. */
  readonly config: SessionDeps["config"];
  /** Config vars for every sample (a sample's own `env` wins). */
  readonly env: Readonly<Record<string, string>>;
  /** Samples built at the same time. */
  readonly jobs: number;
  readonly keep: boolean;
  /** Boot and probe every sample's web process, not only those whose expectations ask. */
  readonly boot: boolean;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Where work folders go; a fresh temp folder by default. */
  readonly workRoot?: string;
  readonly progress?: (sample: string, phase: string, state: "started" | "done") => void;
  /** Told as each sample finishes. */
  readonly onSample?: (result: SampleResult) => void;
}

/** Problems found before anything was built (bad arguments, invalid expectations files): exit 2. */
export class TestSetupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "TestSetupError";
  }
}

/** Runs every sample against the buildpacks and reports what held and what did not. */
export async function runBuildpackTests(options: TestRunOptions): Promise<RunReport> {
  const started = Date.now();
  const workRoot = options.workRoot ?? (await mkdtemp(path.join(os.tmpdir(), "slugforge-buildpack-test-")));
  await mkdir(workRoot, { recursive: true });
  let keepRoot = options.keep;
  try {
    const buildpacks = await resolveBuildpackArgs(options.buildpacks, path.join(workRoot, "buildpacks"), options.signal).catch((err: unknown) => {
      throw new TestSetupError([describeError(err)]);
    });
    const refs = await expandSamples(options.samples).catch((err: unknown) => {
      throw new TestSetupError(describeError(err).split("\n"));
    });
    const prepared = await prepareAll(refs, workRoot, options.signal);
    await checkStack(options.runtime, options.config.stack);
    // Containers earlier runs (or servers) left when they were killed.
    await options.runtime.sweepOrphans();

    const serverId = `buildpack-test-${createHash("sha256").update(workRoot).digest("hex").slice(0, 12)}`;
    const results: SampleResult[] = new Array(prepared.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < prepared.length && !options.signal.aborted) {
        const i = next++;
        const { sample, expectations } = prepared[i]!;
        results[i] = await runSample(options, sample, expectations, buildpacks, serverId, path.join(workRoot, "samples", String(i)));
        options.onSample?.(results[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, prepared.length)) }, worker));
    options.signal.throwIfAborted();
    return { buildpacks: buildpacks.map((b) => (b.commit ? `${b.spec}@${b.commit}` : b.spec)), samples: results, passed: results.every((r) => r.passed), ms: Date.now() - started };
  } catch (err) {
    keepRoot = false;
    throw err;
  } finally {
    if (!keepRoot && !options.workRoot) await rm(workRoot, { recursive: true, force: true });
  }
}

async function prepareAll(refs: Awaited<ReturnType<typeof expandSamples>>, workRoot: string, signal: AbortSignal) {
  const problems: string[] = [];
  const prepared: { sample: PreparedSample; expectations: Expectations }[] = [];
  for (const [i, ref] of refs.entries()) {
    let sample: PreparedSample;
    try {
      sample = await prepareSample(ref, path.join(workRoot, "samples", String(i)), signal);
    } catch (err) {
      problems.push(`${ref.source}: could not read the sample: ${describeError(err)}`);
      continue;
    }
    const parsed = parseExpectations(sample.expectationsText ?? "");
    if (parsed.errors) problems.push(...parsed.errors.map((e) => `${path.join(ref.source, EXPECTATIONS_FILE)}: ${e}`));
    else prepared.push({ sample, expectations: parsed.expectations });
  }
  if (problems.length > 0) throw new TestSetupError(problems);
  return prepared;
}

async function checkStack(runtime: ContainerRuntime, stack: string): Promise<void> {
  await runtime.ping();
  for (const role of ["build", "run"]) {
    const image = `slugforge/stack:${stack}-${role}`;
    if (!(await runtime.inspectImage(image))) throw new SlugforgeError("STACK_MISSING", `image ${image} is missing; run \`slugforge stack build ${stack}\``);
  }
}

async function runSample(
  options: TestRunOptions,
  sample: PreparedSample,
  expectations: Expectations,
  buildpacks: Awaited<ReturnType<typeof resolveBuildpackArgs>>,
  serverId: string,
  workDir: string,
): Promise<SampleResult> {
  const started = Date.now();
  const slugStore = createFsSlugStore(path.join(workDir, "slugs"));
  const config = { ...options.config, buildTimeoutMs: expectations.timeoutMs ?? options.config.buildTimeoutMs };
  const configVars = { ...options.env, ...expectations.env };
  // Caches of the sample's own, for its cold and warm runs; closed at the end of the sample.
  const caches = new BuildCaches({ cacheDir: path.join(workDir, "cache"), log: options.log });
  const deps: SessionDeps = {
    runtime: options.runtime,
    serverId,
    config,
    slugStore,
    caches,
    // Unused: the buildpacks under test are named for every build.
    buildpacks: createBuildpackResolver({ shippedDir: workDir, shippedOrder: [], gitCacheDir: workDir }),
  };
  let phases: PhaseResult[];
  try {
    const observed = await observeSample({
      setup: {
        deps,
        buildpacks,
        configVars,
        app: appName(sample.name),
        sample: { gitDir: sample.gitDir, commit: sample.commit },
        log: options.log.child({ sample: sample.name }),
        timeoutMs: config.buildTimeoutMs,
        signal: options.signal,
      },
      runtime: options.runtime,
      slugStore,
      expectations,
      boot: options.boot,
      config,
      progress: (phase, state) => options.progress?.(sample.name, phase, state),
    });
    phases = evaluate(observed, expectations);
  } catch (err) {
    // Ours or the engine's, not the buildpack's: reported on the sample so the others still run.
    options.log.error({ err, sample: sample.name }, "buildpack test: sample run failed");
    phases = PHASE_NAMES.map((phase, i) =>
      i === 0
        ? { phase, status: "failed", ms: 0, output: "", failures: [`the test run itself failed: ${describeError(err)}`], notes: [] }
        : { phase, status: "skipped", ms: 0, output: "", failures: [], notes: [], skipReason: "the test run failed" },
    );
  } finally {
    // The container made ahead of time for a next build that never comes, with its cache copy.
    await caches.close().catch((err: unknown) => options.log.warn({ err }, "buildpack test: cleaning up containers failed"));
  }
  const result: SampleResult = {
    sample: sample.name,
    source: sample.source,
    passed: phases.every((p) => p.status !== "failed"),
    phases,
    ms: Date.now() - started,
    keptDir: options.keep ? workDir : undefined,
  };
  if (options.keep) await keepOutputs(workDir, result);
  return result;
}

async function keepOutputs(workDir: string, result: SampleResult): Promise<void> {
  for (const p of result.phases) if (p.output) await writeFile(path.join(workDir, `${p.phase}.log`), p.output);
  await writeFile(path.join(workDir, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
}

/** A sample's name as a build's app: names its cache folder and labels its containers. */
function appName(sample: string): string {
  const clean = sample.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "");
  return `${clean || "sample"}-${randomUUID().slice(0, 8)}`;
}
