/** What a scenario measured: named series of samples (one per run), targets checked on medians. */

export type Unit = "ms" | "MB" | "x" | "%" | "count";

export interface Summary {
  readonly unit: Unit;
  readonly runs: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly samples: readonly number[];
}

export interface Target {
  /** The series whose median (or, with `every`, every run) is checked. */
  readonly metric: string;
  /** Passes when median <= max (with `every`: the largest run <= max). */
  readonly max: number;
  readonly every?: boolean;
  readonly text: string;
  readonly pass: boolean;
  readonly value: number;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly metrics: Record<string, Summary>;
  readonly targets: readonly Target[];
  readonly notes: readonly string[];
  /** Set when the scenario could not run to the end. */
  readonly error?: string;
}

export function summarize(samples: readonly number[], unit: Unit): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const mid = n === 0 ? NaN : n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return { unit, runs: n, median: mid, min: sorted[0] ?? NaN, max: sorted[n - 1] ?? NaN, samples: [...samples] };
}

/** Collects the samples of a scenario, series by series, then checks its targets. */
export class Recorder {
  private readonly series = new Map<string, { unit: Unit; samples: number[] }>();
  private readonly order: string[] = [];
  readonly notes: string[] = [];

  add(metric: string, unit: Unit, value: number): void {
    let s = this.series.get(metric);
    if (!s) {
      s = { unit, samples: [] };
      this.series.set(metric, s);
      this.order.push(metric);
    }
    s.samples.push(value);
  }

  /** The latest sample of a series. */
  last(metric: string): number {
    const s = this.series.get(metric);
    return s?.samples[s.samples.length - 1] ?? NaN;
  }

  note(text: string): void {
    this.notes.push(text);
  }

  result(scenario: string, targets: readonly { metric: string; max: number; text: string; every?: boolean }[], error?: string): ScenarioResult {
    const metrics: Record<string, Summary> = {};
    for (const name of this.order) {
      const s = this.series.get(name)!;
      metrics[name] = summarize(s.samples, s.unit);
    }
    const checked = targets.map((t) => {
      const summary = metrics[t.metric];
      const value = (t.every ? summary?.max : summary?.median) ?? NaN;
      return { ...t, value, pass: Number.isFinite(value) && value <= t.max };
    });
    return { scenario, metrics, targets: checked, notes: this.notes, ...(error ? { error } : {}) };
  }
}

export function formatValue(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return "-";
  switch (unit) {
    case "ms":
      return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
    case "MB":
      return `${v.toFixed(1)} MB`;
    case "x":
      return `${v.toFixed(2)}x`;
    case "%":
      return `${v.toFixed(1)} %`;
    case "count":
      return String(Math.round(v * 10) / 10);
  }
}

/** A plain-text table: scenario, measure, median, min, max, target, verdict. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const rows: string[][] = [["scenario", "measure", "median", "min", "max", "target", ""]];
  for (const r of results) {
    if (r.error) rows.push([r.scenario, `ERROR: ${r.error.split("\n")[0]!.slice(0, 60)}`, "", "", "", "", "FAIL"]);
    for (const [name, s] of Object.entries(r.metrics)) {
      const target = r.targets.find((t) => t.metric === name);
      rows.push([
        r.scenario,
        name,
        formatValue(s.median, s.unit),
        formatValue(s.min, s.unit),
        formatValue(s.max, s.unit),
        target ? `${target.every ? "max " : ""}<= ${formatValue(target.max, s.unit)}` : "",
        target ? (target.pass ? "pass" : "MISS") : "",
      ]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  const out = [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  ")];
  let last = "";
  for (const row of rows.slice(1)) {
    out.push(line(row[0] === last ? ["", ...row.slice(1)] : row));
    last = row[0]!;
  }
  return out.join("\n");
}
