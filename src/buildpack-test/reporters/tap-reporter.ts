import { stringify } from "yaml";
import type { RunReport } from "../results.js";

/**
 * TAP version 14 (https://testanything.org/tap-version-14-specification.html): one test point
 * per sample and phase, skipped phases as `# SKIP`, failures in a YAML diagnostic block.
 */
export function formatTapReport(report: RunReport): string {
  const points = report.samples.flatMap((s) => s.phases.map((p) => ({ s, p })));
  const out = ["TAP version 14", `1..${points.length}`];
  points.forEach(({ s, p }, i) => {
    const title = `${s.sample} ${p.phase}`.replace(/#/g, "\\#");
    if (p.status === "skipped") {
      out.push(`ok ${i + 1} - ${title} # SKIP ${p.skipReason ?? ""}`.trimEnd());
      return;
    }
    out.push(`${p.status === "passed" ? "ok" : "not ok"} ${i + 1} - ${title}`);
    if (p.status === "failed" || p.notes.length > 0) {
      const diag: Record<string, unknown> = { duration_ms: p.ms };
      if (p.failures.length > 0) diag.message = p.failures.join("\n");
      if (p.failures.length > 0) diag.failures = p.failures;
      if (p.notes.length > 0) diag.notes = p.notes;
      const yaml = stringify(diag, { lineWidth: 0 }).trimEnd();
      out.push("  ---", ...yaml.split("\n").map((l) => `  ${l}`), "  ...");
    }
  });
  return out.join("\n");
}
