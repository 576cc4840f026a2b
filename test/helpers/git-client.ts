import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { runProcess, type RunResult } from "../../src/util/run-process.js";

export interface TimedLine {
  /** ms since the command started */
  readonly t: number;
  readonly text: string;
}

export interface TimedRun {
  readonly pid: number;
  readonly lines: TimedLine[];
  readonly done: Promise<{ code: number; ms: number; stderr: string; stdout: string }>;
  /** Ctrl-C as a terminal does it: the whole process group (git-remote-http included). */
  interrupt(signal?: NodeJS.Signals): void;
}

/**
 * The last line the server sent (git shows it as `remote: ...`), without git's padding: by
 * docs/errors.md, the line of a refused push that names the error code.
 */
export function lastRemoteLine(stderr: string): string | undefined {
  return stderr
    .split(/\r?\n|\r/)
    .filter((l) => l.startsWith("remote: ") && l.trim() !== "remote:")
    .at(-1)
    ?.trimEnd();
}

/** A git client isolated from the machine's config: its own HOME, no system config, no prompts. */
export class GitClient {
  readonly env: NodeJS.ProcessEnv;

  constructor(readonly home: string) {
    this.env = {
      PATH: process.env.PATH,
      HOME: home,
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: "Test",
      GIT_AUTHOR_EMAIL: "test@example.com",
      GIT_COMMITTER_NAME: "Test",
      GIT_COMMITTER_EMAIL: "test@example.com",
      LANG: "C.UTF-8",
    };
  }

  /** `git -c credential.helper= <args>`, whatever the exit code. */
  run(args: readonly string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return runProcess("git", ["-c", "credential.helper=", ...args], { cwd, env: { ...this.env, ...extraEnv } });
  }

  async ok(args: readonly string[], cwd: string): Promise<string> {
    const r = await this.run(args, cwd);
    if (r.code !== 0) throw new Error(`git ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  }

  /** A work tree on `branch` with one commit. */
  async initRepo(dir: string, branch = "main"): Promise<string> {
    await mkdir(dir, { recursive: true });
    await this.ok(["init", "-q", "-b", branch], dir);
    return this.commit(dir, "README.md", "hello\n", "first");
  }

  /** Writes a file, commits it, returns the new commit. */
  async commit(dir: string, file: string, content: string | Buffer, message: string): Promise<string> {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
    await this.ok(["add", "-A"], dir);
    await this.ok(["commit", "-q", "-m", message], dir);
    return this.ok(["rev-parse", "HEAD"], dir);
  }

  /** Runs git in its own process group and timestamps each stderr line as it arrives. */
  spawnTimed(args: readonly string[], cwd: string): TimedRun {
    const started = Date.now();
    const child = spawn("git", ["-c", "credential.helper=", ...args], { cwd, env: this.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const lines: TimedLine[] = [];
    let partial = "";
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => {
      const text = b.toString("utf8");
      stderr += text;
      const parts = (partial + text).split(/\r?\n|\r/);
      partial = parts.pop() ?? "";
      for (const p of parts) lines.push({ t: Date.now() - started, text: p });
    });
    const done = new Promise<{ code: number; ms: number; stderr: string; stdout: string }>((resolve) => {
      child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), ms: Date.now() - started, stderr, stdout }));
    });
    return {
      pid: child.pid!,
      lines,
      done,
      interrupt(signal = "SIGINT") {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // already gone
        }
      },
    };
  }
}
