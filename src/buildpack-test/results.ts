/** The phases a sample goes through, in report order. */
export const PHASE_NAMES = ["detect", "compile", "warm-compile", "release", "test", "boot"] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

export type PhaseStatus = "passed" | "failed" | "skipped";

/** One phase of one sample, after its expectations and contract checks were applied. */
export interface PhaseResult {
  readonly phase: PhaseName;
  readonly status: PhaseStatus;
  /** Wall time of the phase's own work (not container set-up); 0 when skipped. */
  readonly ms: number;
  /** What the phase printed (build output as a pusher would see it). */
  readonly output: string;
  /** Why the phase failed: broken expectations and contract checks, one sentence each. */
  readonly failures: readonly string[];
  /** Worth knowing, not failing (e.g. a failed compile that changed CACHE_DIR). */
  readonly notes: readonly string[];
  /** Why it did not run. */
  readonly skipReason?: string;
}

export interface SampleResult {
  readonly sample: string;
  /** Where the sample came from (a directory or a git URL). */
  readonly source: string;
  readonly passed: boolean;
  readonly phases: readonly PhaseResult[];
  /** Total wall time of the sample. */
  readonly ms: number;
  /** With --keep: the sample's work folder (source repo, cache, slug, output per phase). */
  readonly keptDir?: string;
}

export interface RunReport {
  readonly buildpacks: readonly string[];
  readonly samples: readonly SampleResult[];
  readonly passed: boolean;
  readonly ms: number;
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
