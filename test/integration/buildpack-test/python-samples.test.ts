import { cp, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunReport } from "../../../src/buildpack-test/results.js";
import { runBuildpackTestCommand } from "../../../src/cli/buildpack-test-command.js";
import { ensureWheelhouse } from "../../helpers/python-builds.js";
import { tempDir } from "../builds/helpers.js";

// The shipped Python buildpack against a folder of two samples built side by side: python-stdlib,
// whose expectations all hold, and python-flask (packages from the test wheelhouse), whose
// expectations include two that do not. One run covers detect, cold and warm compile, release,
// slug contents and a boot with an HTTP probe on the run image, all with network none.
const repo = path.resolve(import.meta.dirname, "../../..");
const apps = path.join(repo, "test/fixtures/apps");

const STDLIB_EXPECTATIONS = `
detect: { name: Python }
compile: { output_matches: ["Installing Python 3."], output_not_matches: [Using cached install] }
warm_compile: { output_matches: ["Using cached install of Python"], max_time_ratio: 0.9 }
process_types: { web: python app.py }
slug:
  present: [app.py, ".heroku/python/bin/python3*"]
  absent: [slugforge-test.yml, .git]
probe: { path: /, status: 200, timeout: 90, body_matches: "/hello from python-stdlib on Python 3\\\\.\\\\d+/" }
`;

const FLASK_EXPECTATIONS = `
process_types: { web: "/^gunicorn /" }
probe: { status: 200, body_matches: hello from python-flask, timeout: 90 }
slug:
  present: [".heroku/python/lib/python3*/*-packages/flask"]
  absent: [app.py]
release: { config_vars: { NOT_SET_BY_THE_BUILDPACK: "1" } }
`;

let dir: { dir: string; cleanup(): Promise<void> };
let exitCode: number;
let report: RunReport;
let stderr = "";

beforeAll(async () => {
  const wheelhouse = await ensureWheelhouse();
  dir = await tempDir("slugforge-bptest-python-");
  const samples = path.join(dir.dir, "samples");
  await cp(path.join(apps, "python-stdlib"), path.join(samples, "python-stdlib"), { recursive: true });
  await cp(path.join(apps, "python-flask"), path.join(samples, "python-flask"), { recursive: true });
  await writeFile(path.join(samples, "python-stdlib/slugforge-test.yml"), STDLIB_EXPECTATIONS);
  await writeFile(path.join(samples, "python-flask/slugforge-test.yml"), FLASK_EXPECTATIONS);
  let stdout = "";
  exitCode = await runBuildpackTestCommand(
    [path.join(repo, "buildpacks/python"), samples, "--json", "--network", "none", "--jobs", "2",
      "--mount", `${wheelhouse.dir}:/wheelhouse`, "--env", "PIP_FIND_LINKS=/wheelhouse", "--env", "PIP_NO_INDEX=1"],
    {},
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += `${t}\n`) },
  );
  report = JSON.parse(stdout) as RunReport;
}, 600_000);

afterAll(() => dir?.cleanup());

const sample = (name: string) => report.samples.find((s) => s.sample === name)!;
const phase = (name: string, p: string) => sample(name).phases.find((x) => x.phase === p)!;

describe("buildpack test: the Python buildpack over a folder of samples", () => {
  it("exits 1 because one sample's expectations do not all hold", () => {
    expect(exitCode, stderr).toBe(1);
    expect(report.samples.map((s) => [s.sample, s.passed])).toEqual([["python-flask", false], ["python-stdlib", true]]);
  });

  it("python-stdlib: every phase holds, the warm compile reuses the cache and is faster", () => {
    const s = sample("python-stdlib");
    expect(s.phases.map((p) => `${p.phase}:${p.status}`)).toEqual([
      "detect:passed", "compile:passed", "warm-compile:passed", "release:passed", "test:skipped", "boot:passed",
    ]);
    expect(phase("python-stdlib", "test").skipReason).toBe("no bin/test-compile or bin/test");
    expect(phase("python-stdlib", "warm-compile").ms).toBeLessThan(phase("python-stdlib", "compile").ms);
    expect(phase("python-stdlib", "compile").output).toContain("Installing Python 3.");
  });

  it("python-flask: installs from the wheelhouse and answers the probe, but the failing expectations are reported", () => {
    const s = sample("python-flask");
    const boot = phase("python-flask", "boot");
    expect(s.phases.map((p) => `${p.phase}:${p.status}`), `${boot.failures.join("; ")}\n${boot.output.slice(-2000)}`).toEqual([
      "detect:passed", "compile:passed", "warm-compile:passed", "release:failed", "test:skipped", "boot:passed",
    ]);
    expect(phase("python-flask", "release").failures).toEqual([
      'release config_vars.NOT_SET_BY_THE_BUILDPACK is undefined, expected "1"',
      "the slug has app.py, which must be absent (app.py)",
    ]);
  });
});
