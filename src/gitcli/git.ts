import type { Readable, Writable } from "node:stream";
import type { StreamedChild } from "../util/process-helper.js";
import { runChecked, runCollected, runProcess, spawnStreamed, type RunResult } from "../util/run-process.js";

/**
 * The one door to the git program: every git that slugforge starts (receive-pack and upload-pack,
 * the hook's ref reads, archive, gc, buildpack fetches, sample repos) starts here, with the one
 * environment policy below. The layers above pass only what their git needs besides it.
 */

/** Variables a caller adds to the policy's (the quarantine's, GIT_PROTOCOL, an identity); undefined ones are left out. */
export type GitEnvExtras = Readonly<Record<string, string | undefined>>;

export interface GitOptions {
  readonly cwd?: string;
  readonly env?: GitEnvExtras;
  /**
   * Names of this process's own variables to hand on, for a git that works for the person at the
   * terminal (their SSH_AUTH_SOCK when `slugforge buildpack test` clones their sample). Never the rest.
   */
  readonly inherit?: readonly string[];
  /** `-c name=value` settings, given before the command so nothing in a repo's own config can change them. */
  readonly config?: Readonly<Record<string, string>>;
  /** Stops git: the run form kills git itself, the spawned form its whole process group. */
  readonly signal?: AbortSignal;
}

export interface RunGitOptions extends GitOptions {
  readonly timeoutMs?: number;
  readonly stdin?: Readable | string;
  /** Where stdout goes as it comes; when absent it is collected and returned. */
  readonly stdout?: Writable;
}

/**
 * The whole environment of every git we start, and of the hooks it starts: PATH and HOME of this
 * process, and nothing else of it, so no server secret (SLUGFORGE_TOKEN, a registry password in
 * the environment) reaches git, a hook or a buildpack's `git` helper. The machine's /etc/gitconfig
 * is not read, so host settings cannot change what a push, an archive or a fetch does (the user's
 * ~/.gitconfig still is, for the CLI's clones); git never prompts, since nobody is there to answer;
 * messages are in one language, whatever the operator's locale.
 */
export function gitEnv(extra: GitEnvExtras = {}, inherit: readonly string[] = []): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: process.env.HOME ?? "/nonexistent",
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    LANG: "C.UTF-8",
  };
  for (const name of inherit) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** git's argument array: the `-c` settings first, then the command. */
export function gitArgs(args: readonly string[], config: Readonly<Record<string, string>> = {}): string[] {
  return [...Object.entries(config).flatMap(([name, value]) => ["-c", `${name}=${value}`]), ...args];
}

/** Runs git to the end and resolves with its exit code and output, whatever the code. */
export function runGit(args: readonly string[], options: RunGitOptions = {}): Promise<RunResult> {
  return runProcess("git", gitArgs(args, options.config), runOptions(options));
}

/**
 * Runs git in the process helper with its whole output collected (as a Buffer), or resolves
 * undefined when that cannot be (no helper here, or more output than `maxBytes`): the caller then
 * runs it itself.
 */
export function runGitCollected(args: readonly string[], options: RunGitOptions & { readonly stdin?: string }, maxBytes: number): ReturnType<typeof runCollected> {
  const { cwd, signal, timeoutMs, stdin } = options;
  return runCollected("git", gitArgs(args, options.config), { cwd, signal, timeoutMs, stdin, env: gitEnv(options.env, options.inherit) }, maxBytes);
}

/** Like runGit, but rejects with the last lines of git's stderr when it exits non-zero. */
export function runGitChecked(args: readonly string[], options: RunGitOptions = {}): Promise<RunResult> {
  return runChecked("git", gitArgs(args, options.config), runOptions(options));
}

function runOptions(options: RunGitOptions): Parameters<typeof runProcess>[2] {
  const { cwd, signal, timeoutMs, stdin, stdout } = options;
  return { cwd, signal, timeoutMs, stdin, stdout, env: gitEnv(options.env, options.inherit) };
}

/**
 * Starts git in its own process group, for output that streams as it comes (receive-pack,
 * upload-pack, archive, gc): killing the group (killProcessGroup) also stops index-pack,
 * unpack-objects and the pre-receive hook it started, and an aborted `signal` does just that.
 * The process helper starts it where there is one (its pipes come back here; `pid` is set when
 * they have, and killChildGroup waits for that).
 */
export function spawnGit(args: readonly string[], options: GitOptions = {}): StreamedChild {
  const run = { file: "git", args: gitArgs(args, options.config), cwd: options.cwd, env: gitEnv(options.env, options.inherit), detached: true };
  const child = spawnStreamed(run, options.signal);
  // Gone: nothing more can be written to it. An input that never ended (a request body a pusher
  // stopped sending) would keep the pipe open.
  child.once("close", () => child.stdin.destroy());
  return child;
}
