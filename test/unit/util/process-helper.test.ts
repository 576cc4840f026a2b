import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { killChildGroup } from "../../../src/util/process-group.js";
import { runInHelper, spawnInHelper, stopHelper, tooLarge, type StreamedChild } from "../../../src/util/process-helper.js";
import { runProcess } from "../../../src/util/run-process.js";

const env = { PATH: process.env.PATH };

/** Running (a zombie, killed and not yet reaped by init, is not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

afterAll(() => stopHelper());

/** The pid a program wrote to `file`, asked every 20 ms up to `tries` times; 0 if none came. */
async function pidIn(file: string, tries: number): Promise<number> {
  for (let i = 0; i < tries; i++) {
    const pid = Number(await readFile(file, "utf8").catch(() => "0"));
    if (pid) return pid;
    await sleep(20);
  }
  return 0;
}

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
      const pid = await pidIn(pidFile, 100);
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

  it("fails the runs a helper that died had, kills what they ran, and starts a new one for the next", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "helper-"));
    try {
      // A program that prints nothing and reads nothing: the helper's pipes closing would not end it.
      const pidFile = path.join(dir, "pid");
      const run = runProcess("sh", ["-c", `echo $$ > ${pidFile}; exec sleep 30`], { env });
      const sleeper = await pidIn(pidFile, 250);
      expect(sleeper).toBeGreaterThan(0);
      stopHelper();
      await expect(run).rejects.toThrow(/process helper/);
      for (let i = 0; i < 100 && alive(sleeper); i++) await sleep(20);
      expect(alive(sleeper)).toBe(false);
      expect((await runProcess("echo", ["again"], { env })).stdout).toBe("again\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Everything a streamed child printed, and how it ended, once it has closed. */
function ended(child: StreamedChild): Promise<{ out: Buffer; err: string; code: number | null; signal: NodeJS.Signals | null; events: string[] }> {
  const out: Buffer[] = [];
  let err = "";
  const events: string[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  child.stderr.on("data", (b: Buffer) => (err += b.toString("utf8")));
  child.on("spawn", () => events.push("spawn"));
  child.on("exit", () => events.push("exit"));
  child.on("error", (e) => events.push(`error ${(e as NodeJS.ErrnoException).code}`));
  return new Promise((resolve) =>
    child.on("close", (code, signal) => {
      events.push("close");
      resolve({ out: Buffer.concat(out), err, code, signal, events });
    }),
  );
}

/** A shell in a group of its own, started by the helper, with a `sleep 30` in its group whose pid it writes to `<dir>/pid`. */
function groupWithSleeper(dir: string): { child: StreamedChild; pidFile: string } {
  const pidFile = path.join(dir, "pid");
  return { child: spawnInHelper({ file: "sh", args: ["-c", `sleep 30 & echo $! > ${pidFile}; wait`], env, detached: true }), pidFile };
}

describe("a streamed child started by the process helper", () => {
  it("streams input and output through the pipes it hands over, as spawn would", async () => {
    const input = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < input.length; i += 4096) input.writeUInt32LE(i, i);
    const child = spawnInHelper({ file: "sh", args: ["-c", "cat; echo done >&2; exit 4"], env, detached: true });
    const result = ended(child);
    expect(child.pid).toBeUndefined();
    child.stdin.end(input);
    const r = await result;
    expect(createHash("sha256").update(r.out).digest("hex")).toBe(createHash("sha256").update(input).digest("hex"));
    expect(r).toMatchObject({ err: "done\n", code: 4, signal: null, events: ["spawn", "exit", "close"] });
    expect(child.pid).toBeGreaterThan(0);
  });

  it("loses none of what a child prints as it starts, before its pipes have reached this process", async () => {
    const r = await ended(spawnInHelper({ file: "sh", args: ["-c", "head -c 3000000 /dev/zero; echo early >&2"], env }));
    expect(r.out.length).toBe(3_000_000);
    expect(r.err).toBe("early\n");
    expect(r.code).toBe(0);
  });

  it("emits the error spawn gives for a program that is not there, then close", async () => {
    const r = await ended(spawnInHelper({ file: "no-such-program-here", args: [], env }));
    expect(r.events).toEqual(["error ENOENT", "close"]);
  });

  it("a stdin the child stops reading fails on the stdin only (EPIPE), not the process", async () => {
    const child = spawnInHelper({ file: "head", args: ["-c", "1"], env });
    const result = ended(child);
    const stdinError = new Promise<string | undefined>((resolve) => {
      child.stdin.on("error", (e: NodeJS.ErrnoException) => resolve(e.code));
      child.stdin.on("close", () => setTimeout(() => resolve(undefined), 50));
    });
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < 16 && !child.stdin.destroyed; i++) {
      if (!child.stdin.write(chunk)) await new Promise((resolve) => child.stdin.once("drain", resolve).once("close", resolve));
    }
    child.stdin.end();
    const r = await result;
    expect(r.out.length).toBe(1);
    expect(r.code).toBe(0);
    expect([undefined, "EPIPE", "ECONNRESET"]).toContain(await stdinError);
  });

  it("killChildGroup before its pipes came stops its whole group as soon as it has started", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "helper-"));
    try {
      const { child, pidFile } = groupWithSleeper(dir);
      const result = ended(child);
      killChildGroup(child, 200);
      const r = await result;
      expect(r.signal ?? r.code).toBeTruthy();
      const sleeper = Number(await readFile(pidFile, "utf8").catch(() => "0"));
      for (let i = 0; i < 50 && sleeper && alive(sleeper); i++) await sleep(20);
      if (sleeper) expect(alive(sleeper)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a helper that dies takes the child's group with it: the child ends as killed", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "helper-"));
    try {
      const { child, pidFile } = groupWithSleeper(dir);
      const result = ended(child);
      const sleeper = await pidIn(pidFile, 100);
      expect(sleeper).toBeGreaterThan(0);
      // The helper tells the child's pid a moment after the start (under load, after the sleeper began): the group is known by then.
      for (let i = 0; i < 250 && child.pid === undefined; i++) await sleep(20);
      expect(child.pid).toBeGreaterThan(0);
      stopHelper();
      const r = await result;
      expect(r).toMatchObject({ code: null, signal: "SIGKILL" });
      for (let i = 0; i < 100 && alive(sleeper); i++) await sleep(20);
      expect(alive(sleeper)).toBe(false);
      expect((await runProcess("echo", ["again"], { env })).stdout).toBe("again\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
