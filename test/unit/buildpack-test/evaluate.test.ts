import { describe, expect, it } from "vitest";
import { outsideWrites } from "../../../src/buildpack-test/compile-checks.js";
import { evaluate } from "../../../src/buildpack-test/evaluate.js";
import { parseExpectations, type Expectations } from "../../../src/buildpack-test/expectations.js";
import type { Observed } from "../../../src/buildpack-test/observed.js";

const expect_ = (yaml: string): Expectations => {
  const parsed = parseExpectations(yaml);
  if (!parsed.expectations) throw new Error(parsed.errors.join("; "));
  return parsed.expectations;
};
const noChecks = { writesOutside: [], exportErrors: [] };

function happy(): Observed {
  return {
    detect: { ms: 100, output: "-----> Python app detected\n", detections: [{ buildpack: "bp", exitCode: 0, stdout: "Python\n", stderr: "" }] },
    compile: { ms: 10_000, output: "-----> Installing python 3.13\n", checks: noChecks },
    warmCompile: { ms: 2_000, output: "-----> Using cached python\n", checks: noChecks },
    release: {
      ms: 50,
      output: "",
      release: { addons: [], configVars: { LANG: "C.UTF-8" }, defaultProcessTypes: { web: "python app.py" } },
      processTypes: { web: "python app.py" },
      slugFiles: ["app.py", ".heroku", ".heroku/python", ".heroku/python/bin/python3"],
    },
    skipped: { test: "no bin/test-compile or bin/test", boot: "no probe asked for" },
  };
}

const statuses = (phases: ReturnType<typeof evaluate>): string[] => phases.map((p) => `${p.phase}:${p.status}`);

describe("evaluate", () => {
  it("passes a good run with no expectations, and says why phases were skipped", () => {
    const phases = evaluate(happy(), expect_(""));
    expect(statuses(phases)).toEqual(["detect:passed", "compile:passed", "warm-compile:passed", "release:passed", "test:skipped", "boot:skipped"]);
    expect(phases[4]!.skipReason).toBe("no bin/test-compile or bin/test");
  });

  it("checks names, output, ratios, release, process types and slug files", () => {
    const phases = evaluate(
      happy(),
      expect_(`
detect: { name: Ruby }
compile: { output_matches: [Installing], output_not_matches: [python 3.13] }
warm_compile: { max_time_ratio: 0.1 }
release: { config_vars: { LANG: en_US.UTF-8 }, addons: [heroku-postgresql] }
process_types: { web: gunicorn, worker: x }
slug: { present: [".heroku/python/bin/python*", "requirements.txt"], absent: [".heroku/**"] }
`),
    );
    expect(phases.find((p) => p.phase === "detect")!.failures).toEqual(['detect named the app "Python", expected "Ruby"']);
    expect(phases.find((p) => p.phase === "compile")!.failures).toEqual(['compile output matches "python 3.13", which it must not']);
    expect(phases.find((p) => p.phase === "warm-compile")!.failures).toEqual([
      "warm compile took 2s, 0.20× the cold compile's 10s; at most 0.1× expected",
    ]);
    expect(phases.find((p) => p.phase === "release")!.failures).toEqual([
      'release config_vars.LANG is "C.UTF-8", expected "en_US.UTF-8"',
      'release addons do not include "heroku-postgresql"',
      'process type web is "python app.py", expected "gunicorn"',
      "process type worker is missing (have: web)",
      "the slug has no requirements.txt",
      "the slug has .heroku/**, which must be absent (.heroku/python, .heroku/python/bin/python3)",
    ]);
  });

  it("holds expected failures, and fails when they do not happen", () => {
    const failedCompile: Observed = {
      ...happy(),
      compile: { ms: 1, output: "", error: "COMPILE_FAILED: exit 1", checks: { ...noChecks, cacheNote: "compile failed and left CACHE_DIR untouched" } },
      warmCompile: undefined,
      release: undefined,
      skipped: { "warm-compile": "the cold compile failed", release: "the cold compile failed" },
    };
    const ok = evaluate(failedCompile, expect_("compile: { pass: false }"));
    expect(statuses(ok).slice(0, 3)).toEqual(["detect:passed", "compile:passed", "warm-compile:skipped"]);
    expect(ok[1]!.notes).toEqual(["compile failed and left CACHE_DIR untouched"]);
    expect(evaluate(failedCompile, expect_(""))[1]!.failures).toEqual(["COMPILE_FAILED: exit 1"]);
    expect(evaluate(happy(), expect_("compile: { pass: false }"))[1]!.failures).toEqual(["compile succeeded, but the expectations say it fails"]);
    const timedOut = { ...failedCompile, compile: { ...failedCompile.compile!, error: "BUILD_TIMEOUT: too slow" } };
    expect(evaluate(timedOut, expect_("compile: { pass: false }"))[1]!.status).toBe("failed");
  });

  it("reports contract breaches: nameless detect, writes outside, unsourceable export", () => {
    const observed = happy();
    observed.detect = { ...observed.detect!, detections: [{ buildpack: "bp", exitCode: 0, stdout: "", stderr: "" }] };
    observed.compile = { ...observed.compile!, checks: { writesOutside: ["/var/tmp/x (added)"], exportErrors: ["bp: its export file cannot be sourced"] } };
    const phases = evaluate(observed, expect_(""));
    expect(phases[0]!.failures).toEqual(["contract: bin/detect of bp exited 0 without printing the app type's name"]);
    expect(phases[1]!.failures).toEqual([
      "contract: compile wrote outside BUILD_DIR and CACHE_DIR (lost when the slug is made): /var/tmp/x (added)",
      "contract: bp: its export file cannot be sourced",
    ]);
  });

  it("judges the probe's status and body", () => {
    const observed = { ...happy(), boot: { ms: 5, output: "", status: 500, body: "boom" } };
    expect(evaluate(observed, expect_(""))[5]!.failures).toEqual(["the probe got HTTP 500, expected 2xx or 3xx"]);
    const phases = evaluate({ ...observed, boot: { ...observed.boot, status: 200 } }, expect_("probe: { status: 200, body_matches: hello }"));
    expect(phases[5]!.failures).toEqual(['the response body does not match "hello"']);
  });
});

describe("outsideWrites", () => {
  it("keeps new writes outside /app and /tmp, an added folder standing for its contents", () => {
    const writes = outsideWrites(
      [
        { path: "/app", kind: "changed" },
        { path: "/tmp/cache/x", kind: "added" },
        { path: "/var", kind: "changed" },
        { path: "/var/tmp", kind: "changed" },
        { path: "/var/tmp/outsider", kind: "added" },
        { path: "/var/tmp/outsider/state", kind: "added" },
        { path: "/etc/passwd", kind: "changed" },
        { path: "/root/.seen", kind: "added" },
      ],
      new Set(["/root/.seen"]),
    );
    expect(writes).toEqual(["/etc/passwd (changed)", "/var/tmp/outsider (added)"]);
  });
});
