import { PassThrough, Writable, type Readable } from "node:stream";
import type { Container } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";

export const BUILD_USER = "slug";
export const BUILD_UID = 1000;
export const BUILD_DIR = "/app";
export const ENV_DIR = "/tmp/env";
export const CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Which build a program runs for: what its environment says about it. */
export interface BuildIdentity {
  readonly buildId: string;
  readonly app: string;
  readonly commit: string;
  readonly stack: string;
}

/** A build's container, and the signal that ends what runs in it (a cancel, a timeout). */
export interface InContainer extends BuildIdentity {
  readonly container: Container;
  readonly signal: AbortSignal;
}

/** The environment every buildpack program gets, and nothing else (Heroku Buildpack API). */
export function buildEnv(ctx: BuildIdentity, extra: Record<string, string> = {}): Record<string, string> {
  return {
    STACK: ctx.stack,
    SOURCE_VERSION: ctx.commit,
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
  readonly stdin?: Readable;
}

/**
 * Runs a program in the build container as the unprivileged user, under `env -i` so the
 * environment is exactly `env` (Docker would otherwise add its own PATH, HOSTNAME, HOME).
 */
export function runInBuild(ctx: Pick<InContainer, "container" | "signal">, cmd: readonly string[], env: Readonly<Record<string, string>>, io: RunIO = {}): Promise<number> {
  const pairs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return ctx.container.exec(["env", "-i", ...pairs, ...cmd], {
    user: BUILD_USER,
    workdir: BUILD_DIR,
    signal: ctx.signal,
    stdout: io.stdout,
    stderr: io.stderr,
    stdin: io.stdin,
  });
}

/** Like runInBuild, with stdout collected (up to `maxBytes`) for programs whose answer we read. */
export async function captureInBuild(
  ctx: InContainer,
  cmd: readonly string[],
  env: Record<string, string>,
  stderr?: Writable,
  maxBytes = 1024 * 1024,
  /** Runs it elsewhere than in an exec of its own (an exec started ahead: standby-exec.ts). */
  run?: (cmd: readonly string[], env: Record<string, string>, io: RunIO) => Promise<number>,
): Promise<{ code: number; stdout: string }> {
  const stdout = new Collected(maxBytes);
  const io = { stdout, stderr: stderr ?? new Collected(0) };
  const code = await (run ? run(cmd, env, io) : runInBuild(ctx, cmd, env, io));
  return { code, stdout: stdout.text() };
}

/**
 * Unpacks a tar stream into `dir` of the build container with the container's own GNU tar, run
 * as the build user (so everything it makes belongs to that user, whatever the tar says) and
 * keeping the entries' modes and mtimes. Three times faster than the Engine's archive upload,
 * which unpacks through a helper process on the engine's side.
 */
export async function extractIntoBuild(ctx: InContainer, tar: Readable, dir: string, options: { readonly clear?: string } = {}): Promise<void> {
  const stderr = new Collected(4096);
  const untar = ["tar", "-x", "-p", "-f", "-", "-C", dir];
  // `clear`: a folder emptied first, in the same exec (what an earlier build's copy left there).
  const cmd = options.clear === undefined ? untar : ["sh", "-c", 'if [ -e "$0" ]; then chmod -R u+w "$0"; find "$0" -mindepth 1 -delete || exit 2; fi; exec "$@"', options.clear, ...untar];
  const code = await runInBuild(ctx, cmd, buildEnv(ctx), { stdin: tar, stderr });
  if (code !== 0) throw new SlugforgeError("INTERNAL", `unpacking into ${dir} failed (tar exited with ${code}): ${stderr.text().trim()}`);
}

/**
 * A tar stream of `path` in the build container (entries rooted at its base name, sorted by
 * name), made by the container's GNU tar as the build user and read with backpressure. The stream
 * fails when tar does (exit 2); exit 1 ("file changed as we read it") is not an error.
 */
export function archiveFromBuild(ctx: InContainer, path: string): Readable {
  const slash = path.lastIndexOf("/");
  const parent = slash <= 0 ? "/" : path.slice(0, slash);
  const base = path.slice(slash + 1);
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  const stderr = new Collected(4096);
  runInBuild(ctx, ["tar", "-c", "--sort=name", "-f", "-", "-C", parent, base], buildEnv(ctx), { stdout: out, stderr }).then(
    (code) => (code > 1 ? out.destroy(new SlugforgeError("INTERNAL", `reading ${path} failed (tar exited with ${code}): ${stderr.text().trim()}`)) : out.end()),
    (err: Error) => out.destroy(err),
  );
  return out;
}

/** Keeps the first `maxBytes` written to it and drops the rest (a program's output, for reading or an error message). */
export class Collected extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly maxBytes: number) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    if (this.size < this.maxBytes) this.chunks.push(chunk.subarray(0, this.maxBytes - this.size));
    this.size += chunk.length;
    done();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/** Label of a build container: its build id. */
export const BUILD_LABEL = "org.slugforge.build";
/** Label of a build container: the server that made it (sweeps touch only their own). */
export const SERVER_LABEL = "org.slugforge.server";
