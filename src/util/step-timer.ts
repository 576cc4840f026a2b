/** One timed step of a longer job (host setup, stack images): when it started and ended, from the timer's start. */
export interface StepRecord {
  readonly name: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly failed: boolean;
}

/** Runs an async step under a name and records its time; steps may overlap (they run in parallel). */
export type Step = <T>(name: string, run: () => Promise<T>) => Promise<T>;

export interface StepTimer {
  readonly step: Step;
  readonly records: readonly StepRecord[];
  /** Time since the timer was made. */
  elapsedMs(): number;
  /** A table of the steps in the order they started: offset from the start, duration, name. */
  summary(): string[];
}

/** A step that only runs: for callers that do not time their steps. */
export const untimed: Step = (_name, run) => run();

export function createStepTimer(say: (line: string) => void, now: () => number = Date.now): StepTimer {
  const origin = now();
  const records: StepRecord[] = [];
  const step: Step = async (name, run) => {
    const startMs = now() - origin;
    let failed = true;
    try {
      const value = await run();
      failed = false;
      return value;
    } finally {
      const endMs = now() - origin;
      records.push({ name, startMs, endMs, failed });
      say(`${name}: ${failed ? "failed after" : "done in"} ${seconds(endMs - startMs)}`);
    }
  };
  return {
    step,
    records,
    elapsedMs: () => now() - origin,
    summary: () => {
      const sorted = [...records].sort((a, b) => a.startMs - b.startMs);
      return [
        "   start     took  step",
        ...sorted.map((r) => `${seconds(r.startMs).padStart(8)} ${seconds(r.endMs - r.startMs).padStart(8)}  ${r.name}${r.failed ? " (failed)" : ""}`),
      ];
    },
  };
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Named points of a job, in whole milliseconds since the marks were made (for a debug log's `ms`). */
export interface Marks {
  readonly ms: Record<string, number>;
  mark(what: string): void;
}

export function createMarks(now: () => number = () => performance.now()): Marks {
  const began = now();
  const ms: Record<string, number> = {};
  return { ms, mark: (what) => void (ms[what] = Math.round(now() - began)) };
}
