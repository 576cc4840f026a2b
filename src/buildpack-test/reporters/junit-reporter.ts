import type { RunReport } from "../results.js";

/**
 * JUnit XML as CI systems read it (Jenkins, GitLab, GitHub actions): a testsuite per sample, a
 * testcase per phase, `<skipped>` and `<failure>` elements, each phase's output in system-out.
 */
export function formatJunitReport(report: RunReport): string {
  const count = (status: string): number => report.samples.reduce((n, s) => n + s.phases.filter((p) => p.status === status).length, 0);
  const total = report.samples.reduce((n, s) => n + s.phases.length, 0);
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="slugforge buildpack test" tests="${total}" failures="${count("failed")}" skipped="${count("skipped")}" time="${secs(report.ms)}">`,
  ];
  for (const s of report.samples) {
    const failures = s.phases.filter((p) => p.status === "failed").length;
    const skipped = s.phases.filter((p) => p.status === "skipped").length;
    out.push(`  <testsuite name="${attr(s.sample)}" tests="${s.phases.length}" failures="${failures}" skipped="${skipped}" time="${secs(s.ms)}">`);
    for (const p of s.phases) {
      const open = `    <testcase classname="${attr(s.sample)}" name="${attr(p.phase)}" time="${secs(p.ms)}"`;
      if (p.status === "skipped") {
        out.push(`${open}>`, `      <skipped message="${attr(p.skipReason ?? "")}"/>`, `    </testcase>`);
        continue;
      }
      out.push(`${open}>`);
      if (p.status === "failed") {
        out.push(`      <failure message="${attr(p.failures[0] ?? "failed")}" type="expectation">${text(p.failures.join("\n"))}</failure>`);
      }
      const notes = p.notes.map((n) => `note: ${n}\n`).join("");
      if (p.output || notes) out.push(`      <system-out>${text(notes + p.output)}</system-out>`);
      out.push(`    </testcase>`);
    }
    out.push(`  </testsuite>`);
  }
  out.push(`</testsuites>`);
  return out.join("\n");
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** XML 1.0 cannot carry most control characters (build output has colour codes): drop them. */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex -- exactly the characters XML 1.0 forbids
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, "");
}

function text(s: string): string {
  return clean(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function attr(s: string): string {
  return text(s).replace(/"/g, "&quot;").replace(/\n/g, "&#10;").replace(/\r/g, "&#13;").replace(/\t/g, "&#9;");
}
