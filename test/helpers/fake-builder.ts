import { sourceEnv } from "../../src/builds/git-source.js";
import type { Builder, BuildOutput, BuildRequest, BuildResult } from "../../src/builds/types.js";
import type { ErrorCode } from "../../src/errors.js";
import { runGit } from "../../src/gitcli/git.js";

export type FakeStep = string | { readonly sleepMs: number };

export interface FakeBuildPlan {
  readonly steps?: readonly FakeStep[];
  readonly fail?: { readonly code: ErrorCode; readonly message: string };
}

export interface RecordedBuild {
  readonly request: BuildRequest;
  result?: BuildResult;
  /** Whether `git cat-file -e <commit>` worked with the quarantine env the hook passed (as a build reads it). */
  commitVisible?: boolean;
  startedAt: number;
}

/**
 * A Builder that prints lines with pauses and then succeeds or fails: the git layer's tests need
 * its timing, not Docker. It checks that the pushed commit is readable from the quarantine, as a
 * real build's `git archive` must, and honours the abort signal.
 */
export class FakeBuilder implements Builder {
  readonly builds: RecordedBuild[] = [];
  private counter = 0;

  constructor(public plan: FakeBuildPlan | ((request: BuildRequest) => FakeBuildPlan) = {}) {}

  async build(request: BuildRequest, output: BuildOutput, signal: AbortSignal): Promise<BuildResult> {
    const record: RecordedBuild = { request, startedAt: Date.now() };
    this.builds.push(record);
    const buildId = `fake-${++this.counter}`;
    const plan = typeof this.plan === "function" ? this.plan(request) : this.plan;
    record.commitVisible = (await runGit(["cat-file", "-e", `${request.commit}^{commit}`], { env: sourceEnv(request.source) })).code === 0;
    const finish = (result: BuildResult): BuildResult => ((record.result = result), result);
    for (const step of plan.steps ?? []) {
      if (signal.aborted) break;
      if (typeof step === "string") output.write(`${step}\n`);
      else await sleep(step.sleepMs, signal);
    }
    if (signal.aborted) {
      return finish({ buildId, status: "cancelled", error: { code: "BUILD_CANCELLED", message: "the push was interrupted" } });
    }
    if (plan.fail) {
      output.write(`!     ${plan.fail.message}\n`);
      return finish({ buildId, status: "failed", error: plan.fail });
    }
    return finish({ buildId, status: "succeeded" });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
