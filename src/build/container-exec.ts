import { Writable } from "node:stream";
import { containerOf, type BuildContext } from "./build-context.js";

export const BUILD_USER = "slug";
export const BUILD_UID = 1000;
export const BUILD_DIR = "/app";
export const ENV_DIR = "/tmp/env";
export const CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The environment every buildpack program gets, and nothing else (Heroku Buildpack API). */
export function buildEnv(ctx: BuildContext, extra: Record<string, string> = {}): Record<string, string> {
  return {
    STACK: ctx.deps.config.stack,
    SOURCE_VERSION: ctx.request.commit,
    HOME: BUILD_DIR,
    REQUEST_ID: ctx.buildId,
    BUILD_DIR,
    PATH: CLEAN_PATH,
    LANG: "C.UTF-8",
    ...extra,
  };
}

export interface RunIO {
  readonly stdout?: Writable;
  readonly stderr?: Writable;
}

/**
 * Runs a program in the build container as the unprivileged user, under `env -i` so the
 * environment is exactly `env` (Docker would otherwise add its own PATH, HOSTNAME, HOME).
 */
export function runInBuild(ctx: BuildContext, cmd: readonly string[], env: Record<string, string>, io: RunIO = {}): Promise<number> {
  const pairs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return containerOf(ctx).exec(["env", "-i", ...pairs, ...cmd], {
    user: BUILD_USER,
    workdir: BUILD_DIR,
    signal: ctx.signal,
    stdout: io.stdout,
    stderr: io.stderr,
  });
}

/** Like runInBuild, with stdout collected (up to `maxBytes`) for programs whose answer we read. */
export async function captureInBuild(
  ctx: BuildContext,
  cmd: readonly string[],
  env: Record<string, string>,
  stderr?: Writable,
  maxBytes = 1024 * 1024,
): Promise<{ code: number; stdout: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const stdout = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (size < maxBytes) chunks.push(chunk.subarray(0, maxBytes - size));
      size += chunk.length;
      done();
    },
  });
  const sink = new Writable({ write: (_c, _e, done) => done() });
  const code = await runInBuild(ctx, cmd, env, { stdout, stderr: stderr ?? sink });
  return { code, stdout: Buffer.concat(chunks).toString("utf8") };
}
