import { PassThrough, Writable, type Readable } from "node:stream";
import { CLEAN_PATH, runInBuild, type InContainer, type RunIO } from "./container-exec.js";

/**
 * An exec started ahead in the build container, as the build user, that waits for the program it
 * is to run: the engine's start-up of an exec (tens of milliseconds on two cores) then happens
 * off the push's path (a container prepared for the app's next build has its own). The program's
 * environment and arguments come first on the exec's stdin (each NUL-terminated, each list after
 * its length), and the waiting bash, having read exactly those bytes, replaces itself with
 * `env -i <entries> <program>` as runInBuild runs one: the rest of stdin is the program's.
 * Nothing sent: it exits at the end of its stdin.
 */
export interface StandbyExec {
  /**
   * Runs `cmd` in the waiting exec, or, when that is no longer waiting (it ended, or was used), in
   * an exec of its own. Aborting `signal` ends the container, as it does for any exec.
   */
  run(cmd: readonly string[], env: Readonly<Record<string, string>>, io: RunIO, signal: AbortSignal): Promise<number>;
  /** An exec not used ends (its stdin closes); resolves once it has. */
  dispose(): Promise<void>;
}

/** The execs a prepared container holds for its build: the source update's, the first bin/compile's and bin/release's. */
export interface PreparedStandbys {
  readonly source: StandbyExec;
  readonly compile: StandbyExec;
  readonly release: StandbyExec;
  /** Ends them with their container (removed) and drops their connections to the engine. */
  abort(): void;
  /** Ends those not used (their stdin closes); resolves once they have. */
  dispose(): Promise<void>;
}

/** The execs for a prepared container that has just started. */
export function preparedStandbys(container: InContainer["container"]): PreparedStandbys {
  const ended = new AbortController();
  const ctx = { container, signal: ended.signal };
  const execs = { source: standbyInBuild(ctx), compile: standbyInBuild(ctx), release: standbyInBuild(ctx) };
  return {
    ...execs,
    abort: () => ended.abort(new Error("the prepared container went")),
    dispose: async () => void (await Promise.all(Object.values(execs).map((e) => e.dispose()))),
  };
}

const STANDBY_SCRIPT = `IFS= read -r -d '' n || exit 0
envs=()
for ((i = 0; i < n; i++)); do IFS= read -r -d '' e || exit 0; envs+=("$e"); done
IFS= read -r -d '' n || exit 0
args=()
for ((i = 0; i < n; i++)); do IFS= read -r -d '' a || exit 0; args+=("$a"); done
[ "$n" -gt 0 ] || exit 0
exec env -i "\${envs[@]}" "\${args[@]}"`;

/** Starts an exec that waits (see StandbyExec); `ctx.signal` ends it with the container. */
export function standbyInBuild(ctx: Pick<InContainer, "container" | "signal">): StandbyExec {
  const stdin = new PassThrough();
  const stdout = new Relay();
  const stderr = new Relay();
  let waiting = true;
  const done = runInBuild(ctx, ["bash", "-c", STANDBY_SCRIPT, "standby"], { PATH: CLEAN_PATH }, { stdin, stdout, stderr });
  done.then(
    () => (waiting = false),
    () => (waiting = false),
  );
  return {
    async run(cmd, env, io, signal) {
      if (!waiting) return runInBuild({ ...ctx, signal }, cmd, env, io);
      waiting = false;
      stdout.attach(io.stdout);
      stderr.attach(io.stderr);
      const entries = Object.entries(env).map(([k, v]) => `${k}=${v}`);
      stdin.write([String(entries.length), ...entries, String(cmd.length), ...cmd].map((s) => `${s}\0`).join(""));
      feed(io.stdin, stdin);
      // As for any exec: the exec has no kill of its own, so a step's timeout ends the container.
      const onAbort = (): void => void ctx.container.remove().catch(() => undefined);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      try {
        const code = await done;
        signal.throwIfAborted();
        return code;
      } catch (err) {
        throw signal.aborted ? signal.reason : err;
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
    },
    async dispose() {
      if (waiting) stdin.end();
      await done.catch(() => undefined);
    },
  };
}

/** The program's own stdin after what the standby read (none: it ends there). */
function feed(from: Readable | undefined, to: PassThrough): void {
  if (!from) {
    to.end();
    return;
  }
  from.on("error", (err) => to.destroy(err));
  from.pipe(to);
}

/** Passes what is written on to a target given later (kept until then; none: dropped). */
class Relay extends Writable {
  private target: Writable | undefined;
  private held: Buffer[] = [];
  attach(given: Writable | undefined): void {
    const target = given ?? new PassThrough().resume();
    this.target = target;
    for (const b of this.held) target.write(b);
    this.held = [];
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, next: (err?: Error | null) => void): void {
    if (this.target) this.target.write(chunk, () => next());
    else {
      this.held.push(chunk);
      next();
    }
  }
}
