import { formatSeconds, PHASE_NAMES, type PhaseResult, type RunReport } from "../results.js";

const TAIL_LINES = 15;

/** For people: a sample × phase matrix with times, then each failure with the end of its output. */
export function formatTableReport(report: RunReport): string {
  const header = ["SAMPLE", ...PHASE_NAMES.map((p) => p.toUpperCase()), "RESULT"];
  const rows = report.samples.map((s) => [s.sample, ...s.phases.map(cell), s.passed ? "PASS" : "FAIL"]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  const out = [`Buildpacks: ${report.buildpacks.join(", ")}`, "", line(header), ...rows.map(line)];

  for (const s of report.samples) {
    for (const p of s.phases) {
      if (p.failures.length === 0 && p.notes.length === 0) continue;
      out.push("", `${s.sample} / ${p.phase}: ${p.status === "failed" ? "FAILED" : "notes"}`);
      for (const f of p.failures) out.push(`  ✗ ${f}`);
      for (const n of p.notes) out.push(`  • ${n}`);
      if (p.status === "failed" && p.output.trim()) {
        out.push(`  last lines of its output:`, ...tail(p.output).map((l) => `    | ${l}`));
      }
    }
    if (s.keptDir) out.push("", `${s.sample}: kept in ${s.keptDir}`);
  }
  const failed = report.samples.filter((s) => !s.passed).length;
  out.push("", `${report.samples.length - failed} of ${report.samples.length} samples passed in ${formatSeconds(report.ms)}.`);
  return out.join("\n");
}

function cell(p: PhaseResult): string {
  if (p.status === "skipped") return "-";
  return `${p.status === "passed" ? "ok" : "FAIL"} ${formatSeconds(p.ms)}`;
}

function tail(text: string): string[] {
  // eslint-disable-next-line no-control-regex -- colour codes and bells make no sense in a summary
  const plain = text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, "");
  const lines = plain.split(/\r?\n|\r/).filter((l) => l.trim() !== "");
  return lines.slice(-TAIL_LINES);
}
