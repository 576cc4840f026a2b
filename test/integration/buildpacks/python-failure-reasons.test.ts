import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runProcess } from "../../../src/util/run-process.js";
import { failureReason } from "../../helpers/failure-reason.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

// The Python buildpack's failure reasons (README.md, "Failure reasons"): the table against the
// shell code, and utils::fail / bin/compile's EXIT trap run by the host's bash (no Docker needed).
const buildpackDir = path.resolve(import.meta.dirname, "../../../buildpacks/python");
const tmp = tmpDirs();
afterAll(() => tmp.cleanup());

async function shellSources(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const dir of ["bin", "lib", "lib/package_managers"]) {
    for (const name of await readdir(path.join(buildpackDir, dir))) {
      if (dir === "bin" || name.endsWith(".sh")) files.set(`${dir}/${name}`, await readFile(path.join(buildpackDir, dir, name), "utf8"));
    }
  }
  return files;
}

/**
 * The codes the shell gives (comments aside), where it gives them: utils::fail /
 * utils::report_failure's argument, pip::fail_install's second, or an assignment to
 * failure_reason. `${tool}` reads as `<tool>`.
 */
function codesIn(source: string): string[] {
  const code = source.replace(/^\s*#.*$/gm, "");
  const patterns = [
    /utils::(?:fail|report_failure) "?([a-z][^\s"]*)"?/g,
    /pip::fail_install \S+ "?([a-z][^\s"]*)"?/g,
    /failure_reason=([a-z][^\s"]*)/g,
  ];
  return patterns
    .flatMap((p) => [...code.matchAll(p)].map((m) => m[1]!))
    .filter((reason) => reason.includes("::"))
    .map((reason) => reason.replace(/\$\{(\w+)\}/g, "<$1>"));
}

describe("python buildpack: failure reasons", () => {
  it("README's table lists every code the shell gives, and no other", async () => {
    const readme = await readFile(path.join(buildpackDir, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Failure reasons"), readme.indexOf("\n## ", readme.indexOf("## Failure reasons") + 1));
    const documented = [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
    const sources = await shellSources();
    const given = [...sources.values()].flatMap(codesIn);
    expect(new Set(documented).size).toBe(documented.length);
    expect([...new Set(given)].sort()).toEqual([...documented].sort());
    for (const code of documented) expect(code).toMatch(/^[a-z0-9_<>:-]+$/);
  });

  it("every utils::fail names one", async () => {
    for (const [file, text] of await shellSources()) {
      expect(text.match(/utils::fail\s+<</g), file).toBeNull();
    }
  });

  /**
   * bash running `script` the way bin/compile starts it: output.sh and utils.sh, set -euo pipefail,
   * a failure reason file and the EXIT trap. Says whether the trap removed the file.
   */
  async function compileLike(script: string): Promise<{ code: number; stderr: string; reasonFileRemoved: boolean }> {
    const reasonFile = path.join(await tmp.make("sf-failure-"), "reason");
    await writeFile(reasonFile, "");
    const prelude = [
      "set -euo pipefail",
      "shopt -s inherit_errexit",
      `source '${buildpackDir}/lib/output.sh'`,
      `source '${buildpackDir}/lib/utils.sh'`,
      `FAILURE_REASON_FILE='${reasonFile}'`,
      "trap utils::on_exit EXIT",
    ];
    const r = await runProcess("bash", ["-c", [...prelude, script].join("\n")], { env: { PATH: process.env.PATH } });
    return { code: r.code, stderr: r.stderr, reasonFileRemoved: !existsSync(reasonFile) };
  }

  it("utils::fail ends the box with the reason and exits 1, from a subshell too, with one box", async () => {
    const r = await compileLike('x="$(utils::fail install-dependencies::pip <<-EOF\n\tError: boom.\n\tEOF\n)"\necho not reached');
    expect(r.code).toBe(1);
    expect(failureReason(r.stderr)).toBe("install-dependencies::pip");
    expect(r.stderr).toContain(" !     Error: boom.");
    expect(r.stderr.match(/Failure reason/g)).toHaveLength(1);
    expect(r.stderr).not.toContain("Internal error");
    expect(r.reasonFileRemoved).toBe(true);
  });

  it("an unexplained failure gets internal-error::unhandled, the command, and keeps its exit status", async () => {
    const r = await compileLike("echo fine\nls /nonexistent-sf-dir 2>/dev/null\necho not reached");
    expect(r.code).toBe(2);
    expect(failureReason(r.stderr)).toBe("internal-error::unhandled");
    expect(r.stderr).toContain("Internal error: The buildpack stopped unexpectedly.");
    expect(r.stderr).toContain("ls /nonexistent-sf-dir");
    expect(r.reasonFileRemoved).toBe(true);
  });

  it("a build that succeeds prints no box", async () => {
    const r = await compileLike("echo fine");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.reasonFileRemoved).toBe(true);
  });
});
