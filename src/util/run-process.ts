import { spawn, type StdioOptions } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { pipeChildOutput } from "./child-output.js";
import { killChildGroup } from "./process-group.js";
import { helperUsable, neverRan, runInHelper, spawnInHelper, tooLarge, type StreamedChild, type StreamedRun } from "./process-helper.js";

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  readonly stdin?: Readable | string;
  /** Where output goes as it comes; when absent it is collected and returned. */
  readonly stdout?: Writable;
  readonly stderr?: Writable;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program with an argument array (no shell) and resolves when it exits, whatever the code.
 * One whose input is given whole and whose output is collected is started by the process helper
 * (process-helper.ts), which spares this process the cost of starting it.
 */
export async function runProcess(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  if (!options.stdout && !options.stderr && (options.stdin === undefined || typeof options.stdin === "string")) {
    const whole = await runCollected(file, args, { ...options, stdin: options.stdin });
    if (whole) return { code: whole.code, stdout: whole.output.toString("utf8"), stderr: whole.stderr };
  }
  return runHere(file, args, options);
}

/**
 * Runs a program in the process helper, its input given whole and its output collected (stdout as
 * bytes), or resolves undefined when that cannot be (no helper here, or more output than
 * `maxBytes`): the caller then runs it itself.
 */
export async function runCollected(
  file: string,
  args: readonly string[],
  options: Omit<RunOptions, "stdin" | "stdout" | "stderr"> & { readonly stdin?: string },
  maxBytes?: number,
): Promise<{ code: number; output: Buffer; stderr: string } | undefined> {
  if (!helperUsable()) return undefined;
  try {
    const r = await runInHelper({ file, args, cwd: options.cwd, env: options.env ?? process.env, stdin: options.stdin, timeoutMs: options.timeoutMs, maxOutputBytes: maxBytes }, options.signal);
    return { code: r.code ?? (r.signal ? 128 + signalNumber(r.signal) : 1), output: r.stdout, stderr: r.stderr.toString("utf8") };
  } catch (err) {
    if (tooLarge(err) || neverRan(err)) return undefined;
    throw err;
  }
}

/**
 * Starts a program whose input and output stream, with pipes for all three: in the process helper
 * where there is one (process-helper.ts; `pid` comes with the `spawn` event), else here. An
 * aborted `signal` stops it (its group, when it has one of its own).
 */
export function spawnStreamed(run: StreamedRun, signal?: AbortSignal): StreamedChild {
  const child: StreamedChild = helperUsable()
    ? spawnInHelper(run)
    : spawn(run.file, [...run.args], { cwd: run.cwd, env: run.env, detached: run.detached === true, stdio: ["pipe", "pipe", "pipe"] });
  if (signal) {
    // Aborted: SIGTERM to it, or to its whole group (killChildGroup waits for a pid still to come).
    const stop = (): void => void (run.detached ? killChildGroup(child) : child.kill("SIGTERM"));
    if (signal.aborted) stop();
    else {
      signal.addEventListener("abort", stop, { once: true });
      child.once("close", () => signal.removeEventListener("abort", stop));
    }
  }
  return child;
}

function runHere(file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = [options.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"];
    const child = spawn(file, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      signal: options.signal,
      timeout: options.timeoutMs,
      stdio,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    if (options.stdout && child.stdout) pipeChildOutput(child.stdout, options.stdout, { end: false });
    else child.stdout?.on("data", (b: Buffer) => out.push(b));
    if (options.stderr) child.stderr?.pipe(options.stderr, { end: false });
    else child.stderr?.on("data", (b: Buffer) => err.push(b));
    // A program that exits without reading all its input closes the pipe (EPIPE): not our error.
    child.stdin?.on("error", () => undefined);
    if (typeof options.stdin === "string") child.stdin?.end(options.stdin);
    else if (options.stdin) options.stdin.pipe(child.stdin!);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      // Gone: nothing more can be written to it. An input that never ended would keep the pipe open.
      child.stdin?.destroy();
      resolve({
        code: code ?? (signal ? 128 + signalNumber(signal) : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

/** Like runProcess, but rejects with the program's stderr when it exits non-zero. */
export async function runChecked(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await runProcess(file, args, options);
  if (result.code !== 0) {
    const detail = (result.stderr || result.stdout).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${file} ${args.join(" ")} exited with ${result.code}${detail ? `: ${detail}` : ""}`);
  }
  return result;
}

function signalNumber(signal: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return table[signal] ?? 0;
}

/** True when a program is on PATH. */
export async function hasCommand(name: string): Promise<boolean> {
  const result = await runProcess("sh", ["-c", `command -v "$1"`, "sh", name]).catch(() => undefined);
  return result?.code === 0;
}
