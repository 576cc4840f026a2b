import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Default 10 minutes; the process group is killed past it. */
  readonly timeoutMs?: number;
  /** stdout goes to this file instead of memory. */
  readonly stdoutFile?: string;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit. */
  readonly ms: number;
}

const KEEP = 256 * 1024;

/** Runs a program (argument array, no shell) and times it; output is kept up to 256 KiB a stream. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  const child = spawn(cmd, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  const tail = (prev: string, b: Buffer): string => (prev.length > KEEP ? prev.slice(-KEEP / 2) : prev) + b.toString("utf8");
  const toFile = options.stdoutFile ? pipeline(child.stdout, createWriteStream(options.stdoutFile)) : undefined;
  if (!toFile) child.stdout.on("data", (b: Buffer) => (stdout = tail(stdout, b)));
  child.stderr.on("data", (b: Buffer) => (stderr = tail(stderr, b)));
  const timer = setTimeout(() => {
    if (child.pid) process.kill(-child.pid, "SIGKILL");
  }, options.timeoutMs ?? 600_000);
  return new Promise((resolve, reject) => {
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      Promise.resolve(toFile).then(() => resolve({ code, stdout, stderr, ms }), reject);
    });
  });
}

/** Like run, but a non-zero exit is an error naming the command and its stderr. */
export async function ok(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(cmd, args, options);
  if (result.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${result.code}:\n${result.stderr.slice(-4000)}`);
  }
  return result;
}

/** Runs `bash -c script` (for pipelines of real tools: tar | gzip, docker exec ... > file). */
export function sh(script: string, options: RunOptions = {}): Promise<RunResult> {
  return ok("bash", ["-c", `set -euo pipefail\n${script}`], options);
}

/** Single-quotes a word for bash. */
export function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function commandExists(cmd: string): Promise<boolean> {
  const r = await run("bash", ["-c", `command -v ${quote(cmd)}`]);
  return r.code === 0;
}
