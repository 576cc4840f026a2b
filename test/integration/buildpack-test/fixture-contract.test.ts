import { mkdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunReport } from "../../../src/buildpack-test/results.js";
import { runBuildpackTestCommand } from "../../../src/cli/buildpack-test-command.js";
import { parseTap } from "../../helpers/report-parsers.js";
import { FIXTURE_BUILDPACKS, tempDir, writeFiles, type Files } from "../builds/helpers.js";

// Contract checks with fixture buildpacks that break the Buildpack API on purpose.
let dir: { dir: string; cleanup(): Promise<void> };

beforeAll(async () => {
  dir = await tempDir("slugforge-bptest-contract-");
});
afterAll(() => dir?.cleanup());

async function run(buildpack: string, samples: Record<string, Files>, options: string[]): Promise<{ code: number; stdout: string }> {
  const root = path.join(dir.dir, buildpack);
  for (const [name, files] of Object.entries(samples)) {
    await mkdir(path.join(root, name), { recursive: true });
    await writeFiles(path.join(root, name), files);
  }
  let stdout = "";
  const code = await runBuildpackTestCommand([path.join(FIXTURE_BUILDPACKS, buildpack), root, "--network", "none", "-q", ...options], {}, {
    stdout: (t) => (stdout += t),
    stderr: () => undefined,
  });
  return { code, stdout };
}

describe("buildpack test: contract checks", () => {
  it("reports a nameless detect, writes outside BUILD_DIR and CACHE_DIR, and an export bash cannot source (TAP)", async () => {
    const { code, stdout } = await run("outsider", { app: { "index.html": "hi\n" } }, ["--reporter", "tap"]);
    expect(code).toBe(1);
    const tap = parseTap(stdout);
    expect(tap.plan).toBe(6);
    expect(tap.points.map((p) => `${p.ok ? "ok" : "not ok"} ${p.description}`)).toEqual([
      "not ok app detect", "not ok app compile", "not ok app warm-compile", "ok app release", "ok app test", "ok app boot",
    ]);
    expect(tap.points[0]!.diagnostics!.failures).toEqual([expect.stringMatching(/^contract: bin\/detect of .*outsider exited 0 without printing the app type's name$/)]);
    const compile = tap.points[1]!.diagnostics!.failures as string[];
    expect(compile[0]).toBe("contract: compile wrote outside BUILD_DIR and CACHE_DIR (lost when the slug is made): /var/tmp/outsider (added)");
    expect(compile[1]).toMatch(/its export file cannot be sourced \(bash exited with 2: .*unexpected EOF/);
    expect(tap.points[4]!.skip).toBe("no bin/test-compile or bin/test");
  });

  it("fails an invalid release unless the expectations say it fails", async () => {
    const { code, stdout } = await run("bad-release", {
      broken: { BAD_RELEASE: "" },
      "known-broken": { BAD_RELEASE: "", "slugforge-test.yml": "release: { pass: false }\n" },
    }, ["--json", "--jobs", "2"]);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as RunReport;
    const release = (s: number) => report.samples[s]!.phases.find((p) => p.phase === "release")!;
    expect(release(0).failures).toEqual([expect.stringMatching(/^RELEASE_INVALID: bin\/release of .*bad-release printed invalid YAML: expected a mapping/)]);
    expect(report.samples.map((s) => [s.sample, s.passed])).toEqual([["broken", false], ["known-broken", true]]);
  });

  it("notes a failed compile that changed CACHE_DIR; an expected failure passes (exit 0)", async () => {
    const { code, stdout } = await run("cacher", { failing: { CACHE: "", FAIL: "", "slugforge-test.yml": "compile: { pass: false, output_matches: Failing on purpose }\n" } }, ["--json"]);
    expect(code).toBe(0);
    const compile = (JSON.parse(stdout) as RunReport).samples[0]!.phases[1]!;
    expect(compile).toMatchObject({ phase: "compile", status: "passed", failures: [] });
    expect(compile.notes).toEqual([expect.stringMatching(/^compile failed after changing CACHE_DIR; those changes are dropped/)]);
  });

  it("stops a phase that exceeds the sample's time limit", async () => {
    const { code, stdout } = await run("slow", { sleepy: { SLOW: "60", "slugforge-test.yml": "timeout: 3s\n" } }, ["--json"]);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as RunReport;
    expect(report.samples[0]!.phases[1]!.failures).toEqual(["BUILD_TIMEOUT: compile took longer than 3s and was stopped."]);
    expect(report.samples[0]!.ms).toBeLessThan(30_000);
  });
});
