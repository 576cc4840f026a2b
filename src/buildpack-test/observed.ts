import type { Detection } from "../builds/steps/step.js";
import type { ReleaseInfo } from "../buildpacks/release-yaml.js";
import type { CompileChecks } from "./compile-checks.js";
import type { PhaseName } from "./results.js";

/** What happened in one phase, before any expectation is applied. */
export interface Observation {
  readonly ms: number;
  readonly output: string;
  /** Why the phase itself failed (an exit code, invalid YAML, a timeout); absent when it succeeded. */
  readonly error?: string;
}

/** Everything the runner saw for one sample; evaluate() turns it into pass/fail per phase. */
export interface Observed {
  detect?: Observation & { readonly detections: readonly Detection[] };
  compile?: Observation & { readonly checks: CompileChecks };
  warmCompile?: Observation & { readonly checks: CompileChecks };
  release?: Observation & {
    readonly release?: ReleaseInfo;
    readonly processTypes: Readonly<Record<string, string>>;
    /** Paths in the slug (relative to /app); absent when no slug was made. */
    readonly slugFiles?: readonly string[];
  };
  test?: Observation;
  boot?: Observation & { readonly status: number; readonly body: string };
  /** Why a phase did not run (the runner's reason, e.g. "no bin/test-compile or bin/test"). */
  readonly skipped: Partial<Record<PhaseName, string>>;
}
