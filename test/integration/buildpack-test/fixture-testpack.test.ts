import { cp, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBuildpackTestCommand } from "../../../src/cli/buildpack-test-command.js";
import { findAll, parseXml, type XmlElement } from "../../helpers/report-parsers.js";
import { FIXTURE_BUILDPACKS, git, tempDir } from "../builds/helpers.js";

// The testpack fixture buildpack, fetched from a git URL with #ref, against a working tree whose
// marker file is not committed and a sample given as a git URL; JUnit output parsed back.
let dir: { dir: string; cleanup(): Promise<void> };

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runBuildpackTestCommand(args, {}, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += `${t}\n`) });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  dir = await tempDir("slugforge-bptest-testpack-");
}, 60_000);
afterAll(() => dir?.cleanup());

describe("buildpack test: the Testpack API, git buildpacks and samples, JUnit", () => {
  let junit: XmlElement;
  let code: number;

  beforeAll(async () => {
    const bp = path.join(dir.dir, "testpack.git");
    await cp(path.join(FIXTURE_BUILDPACKS, "testpack"), bp, { recursive: true });
    git(["-C", bp, "init", "--quiet", "--initial-branch=main"]);
    git(["-C", bp, "add", "-A"]);
    git(["-C", bp, "commit", "--quiet", "-m", "testpack"]);

    // A working tree: the marker that makes the buildpack detect is not committed.
    const passing = path.join(dir.dir, "passing");
    await mkdir(passing);
    git(["-C", passing, "init", "--quiet", "--initial-branch=main"]);
    await writeFile(path.join(passing, "README"), "a sample\n");
    git(["-C", passing, "add", "README"]);
    git(["-C", passing, "commit", "--quiet", "-m", "readme"]);
    await writeFile(path.join(passing, "TESTPACK"), "");
    await writeFile(path.join(passing, "slugforge-test.yml"), `
detect: { name: Testpack }
test: { output_matches: ["ok 1 - built by test-compile", "ok 2 - profile loaded, greeting hi"] }
release: { config_vars: { TESTPACK: "yes" } }
process_types: { web: sleep infinity }
slug: { present: [built-for], absent: [slugforge-test.yml, .profile.d] }
`);
    // A git repository given by URL, whose tests fail.
    const failing = path.join(dir.dir, "failing");
    await mkdir(failing);
    await writeFile(path.join(failing, "TESTPACK"), "");
    await writeFile(path.join(failing, "FAIL_TESTS"), "");
    git(["-C", failing, "init", "--quiet", "--initial-branch=main"]);
    git(["-C", failing, "add", "-A"]);
    git(["-C", failing, "commit", "--quiet", "-m", "failing"]);

    const result = await run([`file://${bp}#main`, passing, `file://${failing}#main`, "--reporter", "junit", "--network", "none", "--env", "GREETING=hi", "-q"]);
    code = result.code;
    junit = parseXml(result.stdout);
  }, 300_000);

  const testcase = (suite: string, name: string): XmlElement =>
    findAll(findAll(junit, "testsuite").find((s) => s.attrs.name === suite)!, "testcase").find((c) => c.attrs.name === name)!;

  it("runs bin/test-compile then bin/test with .profile.d and ENV_DIR loaded; exit 1 for the failing tests", () => {
    expect(code).toBe(1);
    expect(junit.attrs).toMatchObject({ tests: "12", failures: "1" });
    const passing = testcase("passing", "test");
    expect(findAll(passing, "failure")).toEqual([]);
    expect(findAll(passing, "system-out")[0]!.text).toContain("ok 3 - all good");
  });

  it("reports the failing tests with their output", () => {
    const failing = testcase("failing", "test");
    expect(findAll(failing, "failure")[0]!.attrs.message).toMatch(/^bin\/test of file:\/\/.*#main exited with 1: the tests failed\.$/);
    expect(findAll(failing, "system-out")[0]!.text).toContain("not ok 3 - the app asked for a failure");
    expect(Number(testcase("failing", "compile").attrs.time)).toBeGreaterThan(0);
    expect(findAll(testcase("failing", "boot"), "skipped")[0]!.attrs.message).toBe("no probe asked for");
  });

  it("refuses an invalid expectations file before building anything (exit 2)", async () => {
    const bad = path.join(dir.dir, "bad");
    await mkdir(bad);
    await writeFile(path.join(bad, "TESTPACK"), "");
    await writeFile(path.join(bad, "slugforge-test.yml"), "compile: { pas: false }\nprobe: { status: nope }\n");
    const result = await run([path.join(FIXTURE_BUILDPACKS, "testpack"), bad]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(`${path.join(bad, "slugforge-test.yml")}: compile.pas: unknown key (known under compile: pass, output_matches, output_not_matches)`);
    expect(result.stderr).toContain("probe.status: must be a positive number");
  });
});
