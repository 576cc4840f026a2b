import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const BIN = path.resolve(import.meta.dirname, "../../bin/slugforge.js");

export interface ServeProcess {
  readonly proc: ChildProcess;
  readonly port: number;
  /** What the server wrote on stderr so far (its operator log): the last `keep` characters. */
  stderr(): string;
}

/**
 * `slugforge serve` as an operator runs it, a process of its own (so a test can SIGKILL it), with
 * exactly `env` besides PATH and HOME; resolves once it says where it listens.
 */
export async function spawnServe(env: Record<string, string>, keep = 1_000_000): Promise<ServeProcess> {
  const proc = spawn(process.execPath, [BIN, "serve"], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (err = (err + b.toString()).slice(-keep)));
  for (let i = 0; i < 600; i++) {
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
    if (m) return { proc, port: Number(m[1]), stderr: () => err };
    if (proc.exitCode !== null) break;
    await sleep(100);
  }
  proc.kill("SIGKILL");
  throw new Error(`slugforge serve did not start:\n${out}\n${err}`);
}
