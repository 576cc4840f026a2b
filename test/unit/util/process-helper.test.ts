import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { runInHelper, stopHelper, tooLarge } from "../../../src/util/process-helper.js";
import { runProcess } from "../../../src/util/run-process.js";

const env = { PATH: process.env.PATH };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(() => stopHelper());

describe("the process helper", () => {
  it("runs a program as runProcess would here: arguments, input, folder, environment, output and exit code", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "helper-"));
    try {
      const script = 'read line; echo "in: $line"; echo "dir: $(pwd)"; echo "var: $V"; echo "args: $*"; echo oops >&2; exit 3';
      const r = await runProcess("sh", ["-c", script, "sh", "a b", "c"], { cwd: dir, env: { ...env, V: "x" }, stdin: "hello\n" });
      expect(r).toEqual({ code: 3, stdout: `in: hello\ndir: ${dir}\nvar: x\nargs: a b c\n`, stderr: "oops\n" });
      const bytes = await runInHelper({ file: "head", args: ["-c", "3"], env, stdin: "\u00ff\u00fe\u00fd" });
      expect([...bytes.stdout]).toEqual([...Buffer.from("\u00ff\u00fe\u00fd").subarray(0, 3)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects for a program that is not there with the error spawn gives (ENOENT)", async () => {
    await expect(runProcess("no-such-program-here", [], { env })).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("ends the program when the run is aborted, and rejects with an AbortError", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "helper-"));
    try {
      const pidFile = path.join(dir, "pid");
      const ac = new AbortController();
      const run = runProcess("bash", ["-c", `echo $$ > ${pidFile}; exec sleep 30`], { env, signal: ac.signal });
      let pid = 0;
      for (let i = 0; i < 100 && !pid; i++) pid = Number(await readFile(pidFile, "utf8").catch(() => "0")) || (await sleep(20), 0);
      expect(pid).toBeGreaterThan(0);
      ac.abort(new Error("stop"));
      await expect(run).rejects.toMatchObject({ name: "AbortError" });
      for (let i = 0; i < 100 && alive(pid); i++) await sleep(20);
      expect(alive(pid)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("ends a program past its time limit (SIGTERM: code 143), and one that prints past the limit given", async () => {
    expect((await runProcess("sleep", ["30"], { env, timeoutMs: 200 })).code).toBe(143);
    const err = await runInHelper({ file: "head", args: ["-c", "100000", "/dev/zero"], env, maxOutputBytes: 1000 }).catch((e: unknown) => e);
    expect(tooLarge(err)).toBe(true);
  });

  it("fails the runs a helper that died had, and starts a new one for the next", async () => {
    const run = runProcess("sleep", ["30"], { env });
    await sleep(200);
    stopHelper();
    await expect(run).rejects.toThrow(/process helper/);
    expect((await runProcess("echo", ["again"], { env })).stdout).toBe("again\n");
  });
});
