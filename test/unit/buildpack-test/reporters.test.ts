import { describe, expect, it } from "vitest";
import { formatJunitReport } from "../../../src/buildpack-test/reporters/junit-reporter.js";
import { formatTableReport } from "../../../src/buildpack-test/reporters/table-reporter.js";
import { formatTapReport } from "../../../src/buildpack-test/reporters/tap-reporter.js";
import { PHASE_NAMES, type PhaseResult, type RunReport } from "../../../src/buildpack-test/results.js";
import { findAll, parseTap, parseXml } from "../../helpers/report-parsers.js";
import { parseArgs } from "../../../src/cli/buildpack-test-command.js";

const phase = (p: (typeof PHASE_NAMES)[number], extra: Partial<PhaseResult> = {}): PhaseResult => ({
  phase: p, status: "passed", ms: 1234, output: "", failures: [], notes: [], ...extra,
});

const report: RunReport = {
  buildpacks: ["../my-buildpack"],
  passed: false,
  ms: 4321,
  samples: [
    {
      sample: "good", source: "/s/good", passed: true, ms: 3000,
      phases: PHASE_NAMES.map((p) => (p === "test" || p === "boot" ? phase(p, { status: "skipped", ms: 0, skipReason: "no bin/test" }) : phase(p))),
    },
    {
      sample: "bad <&> # one", source: "/s/bad", passed: false, ms: 2000,
      phases: PHASE_NAMES.map((p) =>
        p === "compile"
          ? phase(p, { status: "failed", output: "\x1b[1;31mboom\x1b[0m & <stuff>\x07\n", failures: ['COMPILE_FAILED: exit 1 "quoted"'], notes: ["cache untouched"] })
          : p === "detect" ? phase(p) : phase(p, { status: "skipped", ms: 0, skipReason: "the cold compile failed" }),
      ),
    },
  ],
};

describe("reporters", () => {
  it("TAP: one point per sample and phase, skips and YAML diagnostics", () => {
    const tap = parseTap(formatTapReport(report));
    expect(tap.version).toBe(14);
    expect(tap.plan).toBe(12);
    expect(tap.points).toHaveLength(12);
    expect(tap.points[4]).toMatchObject({ ok: true, id: 5, description: "good test", skip: "no bin/test" });
    expect(tap.points[7]).toMatchObject({ ok: false, id: 8, description: "bad <&> \\# one compile" });
    expect(tap.points[7]!.diagnostics).toEqual({ duration_ms: 1234, message: 'COMPILE_FAILED: exit 1 "quoted"', failures: ['COMPILE_FAILED: exit 1 "quoted"'], notes: ["cache untouched"] });
  });

  it("JUnit: well-formed XML, a suite per sample, failures, skips and output", () => {
    const xml = parseXml(formatJunitReport(report));
    expect(xml.name).toBe("testsuites");
    expect(xml.attrs).toMatchObject({ tests: "12", failures: "1", skipped: "6" });
    const suites = findAll(xml, "testsuite");
    expect(suites.map((s) => s.attrs.name)).toEqual(["good", "bad <&> # one"]);
    const compile = findAll(suites[1]!, "testcase").find((c) => c.attrs.name === "compile")!;
    expect(compile.attrs.time).toBe("1.234");
    const failure = findAll(compile, "failure")[0]!;
    expect(failure.attrs.message).toBe('COMPILE_FAILED: exit 1 "quoted"');
    expect(findAll(compile, "system-out")[0]!.text).toBe("note: cache untouched\nboom & <stuff>\n");
    expect(findAll(suites[0]!, "skipped").map((s) => s.attrs.message)).toEqual(["no bin/test", "no bin/test"]);
  });

  it("table: the matrix, then each failure with its output", () => {
    const text = formatTableReport(report);
    expect(text.split("\n").slice(2, 5)).toEqual([
      "SAMPLE         DETECT   COMPILE    WARM-COMPILE  RELEASE  TEST  BOOT  RESULT",
      "good           ok 1.2s  ok 1.2s    ok 1.2s       ok 1.2s  -     -     PASS",
      "bad <&> # one  ok 1.2s  FAIL 1.2s  -             -        -     -     FAIL",
    ]);
    expect(text).toContain('  ✗ COMPILE_FAILED: exit 1 "quoted"\n  • cache untouched\n  last lines of its output:\n    | boom & <stuff>\n');
    expect(text).toMatch(/1 of 2 samples passed in 4\.3s\.$/);
  });
});

describe("parseArgs", () => {
  it("takes the first argument as the buildpack unless --buildpack names them", () => {
    expect(parseArgs(["bp", "a", "b"])).toMatchObject({ buildpacks: ["bp"], samples: ["a", "b"], jobs: 2, reporter: "table" });
    expect(parseArgs(["-b", "x", "--buildpack=y", "a"])).toMatchObject({ buildpacks: ["x", "y"], samples: ["a"] });
  });

  it("reads every option", () => {
    expect(parseArgs(["bp", "s", "--reporter", "junit", "-j", "3", "--network", "none", "-e", "A=b=c", "--mount", "/w:/wheelhouse", "--stack", "debian-13", "--timeout", "90s", "--boot", "--keep", "-q"])).toEqual({
      buildpacks: ["bp"], samples: ["s"], reporter: "junit", jobs: 3, network: "none", env: { A: "b=c" },
      mounts: [{ host: "/w", container: "/wheelhouse", readOnly: true }], stack: "debian-13", timeoutMs: 90_000, boot: true, keep: true, quiet: true,
    });
    expect(parseArgs(["bp", "s", "--json"])).toMatchObject({ reporter: "json" });
  });

  it("says what is wrong", () => {
    expect(parseArgs(["bp"])).toMatch(/name at least one sample/);
    expect(parseArgs(["bp", "s", "--reporter", "xml"])).toMatch(/--reporter: expected table, tap, junit or json/);
    expect(parseArgs(["bp", "s", "--env", "1A=b"])).toMatch(/expected KEY=VALUE/);
    expect(parseArgs(["bp", "s", "--mount", "w:/x"])).toMatch(/absolute paths/);
    expect(parseArgs(["bp", "s", "--frobnicate"])).toBe("unknown option --frobnicate");
  });
});
