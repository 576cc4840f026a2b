import { spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DETECT_SCRIPT, parseDetections } from "../../../src/builds/steps/source.js";

/*
 * The detect part of the source step's script, run by the host's bash over buildpack folders of
 * the test's own (their bin/detect ignores the build folder it is given), and its parser.
 */
describe("bin/detect run ahead, in the source step's exec", () => {
  let dir: string;
  const bp = (name: string): string => path.join(dir, name);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "detect-ahead-"));
    const detect = async (name: string, body: string): Promise<void> => {
      await mkdir(path.join(dir, name, "bin"), { recursive: true });
      await writeFile(path.join(dir, name, "bin", "detect"), `#!/usr/bin/env bash\n${body}\n`);
      await chmod(path.join(dir, name, "bin", "detect"), 0o755);
    };
    await detect("no", 'echo "No"; echo "not this one" >&2; exit 1');
    await detect("yes", 'printf "Yes\\n\\n"; echo "a note" >&2');
    await detect("also", 'echo "Also"');
    await detect("silent", "exit 0");
    // Reads stdin (which must be empty), prints binary bytes and more than is kept.
    await detect("odd", 'cat; printf "\\x00\\xff \\n"; head -c 2000000 /dev/zero >&2; exit 3');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const run = (every: "every" | "first", ...names: string[]): ReturnType<typeof parseDetections> => {
    // TMPDIR: the script leaves its two output files there.
    const r = spawnSync("bash", ["-c", DETECT_SCRIPT, "detect", every, ...names.map(bp)], { input: "stdin is not detect's", encoding: "utf8", env: { ...process.env, TMPDIR: dir } });
    expect(r.status, r.stderr).toBe(0);
    return parseDetections(r.stdout, names.length);
  };

  it("stops where detectBuildpacks would: at the first taker, or at the first refusal of a list", () => {
    expect(run("first", "no", "yes", "also")).toEqual([
      { exitCode: 1, stdout: "No\n", stderr: "not this one\n" },
      { exitCode: 0, stdout: "Yes\n\n", stderr: "a note\n" },
    ]);
    expect(run("every", "yes", "silent", "no", "also")).toEqual([
      { exitCode: 0, stdout: "Yes\n\n", stderr: "a note\n" },
      { exitCode: 0, stdout: "", stderr: "" },
      { exitCode: 1, stdout: "No\n", stderr: "not this one\n" },
    ]);
    expect(run("first", "no")).toEqual([{ exitCode: 1, stdout: "No\n", stderr: "not this one\n" }]);
  });

  it("keeps any bytes, up to the sizes a detect exec keeps, and gives no stdin", () => {
    const [odd] = run("first", "odd");
    expect(odd?.exitCode).toBe(3);
    expect(odd?.stdout).toBe(Buffer.from([0, 0xff, 0x20, 0x0a]).toString("utf8"));
    expect(odd?.stderr.length).toBe(64 * 1024);
  });

  it("takes no line that is not a result, nor more lines than buildpacks", () => {
    expect(() => parseDetections("0 Rm9yZ2Vk \n0 Rm9yZ2Vk \n", 1)).toThrow(/2 bin\/detect result lines for 1/);
    expect(() => parseDetections("0 not base64! \n", 1)).toThrow(/not a bin\/detect result line/);
    expect(() => parseDetections("0 a b c\n", 1)).toThrow(/not a bin\/detect result line/);
    expect(() => parseDetections("x  \n", 1)).toThrow(/not a bin\/detect result line/);
    expect(parseDetections("", 2)).toEqual([]);
  });
});
