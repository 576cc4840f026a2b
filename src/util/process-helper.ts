import { spawn, type ChildProcess } from "node:child_process";

/**
 * A small Node process that starts programs for this one and sends back what they printed.
 *
 * Starting a child copies the parent's page tables while the parent waits, so its cost grows with
 * the parent's memory: on this kind of machine about 2 ms at 45 MB resident, 5 ms at 100 MB and 19
 * ms at 250 MB, all of it time in which the server does nothing else (the build's output, other
 * pushes). A server runs git many times a push (cat-file, rev-parse, log, ls-tree); the helper,
 * at about 40 MB, starts them for it. Only runs whose input is given whole and whose output is
 * collected whole go through it (run-process.ts); a child whose output streams is started here.
 *
 * The helper is started on first use and ends with this process (its IPC channel closing ends it
 * and what it runs). Should it die, the runs it had fail and the next run starts a new one.
 */

export interface HelperRun {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly stdin?: string;
  readonly timeoutMs?: number;
  /** Output past this (stdout and stderr together) ends the program and rejects with `tooLarge` set. */
  readonly maxOutputBytes?: number;
}

export interface HelperResult {
  /** Exit code, or undefined when it was ended by `signal`. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

type Reply =
  | { readonly id: number; readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: Uint8Array; readonly stderr: Uint8Array }
  | { readonly id: number; readonly error: { readonly message: string; readonly code?: string } };

// The helper itself, run with `node -e` (no file to find, compiled or not). It must not throw.
const HELPER_SOURCE = `
const { spawn } = require("node:child_process");
const running = new Map();
const send = (m) => { try { process.send(m); } catch {} };
process.on("message", (m) => {
  if (m.kill !== undefined) { const c = running.get(m.kill); if (c) c.kill("SIGTERM"); return; }
  let child;
  try {
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, timeout: m.timeoutMs, stdio: [m.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
  } catch (err) { send({ id: m.id, error: { message: String(err && err.message), code: err && err.code } }); return; }
  running.set(m.id, child);
  const out = [], errs = [];
  let failed = false;
  let bytes = 0;
  const over = () => {
    if (m.maxOutputBytes === undefined || bytes <= m.maxOutputBytes || failed) return;
    failed = true; running.delete(m.id); child.kill("SIGKILL");
    send({ id: m.id, error: { message: "output too large", code: "TOO_LARGE" } });
  };
  child.stdout.on("data", (b) => { if (failed) return; bytes += b.length; out.push(b); over(); });
  child.stderr.on("data", (b) => { if (failed) return; bytes += b.length; errs.push(b); over(); });
  if (child.stdin) { child.stdin.on("error", () => {}); child.stdin.end(m.stdin); }
  child.on("error", (err) => { if (failed) return; failed = true; running.delete(m.id); send({ id: m.id, error: { message: String(err && err.message), code: err && err.code } }); });
  child.on("close", (code, signal) => {
    running.delete(m.id);
    if (child.stdin) child.stdin.destroy();
    if (!failed) send({ id: m.id, code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(errs) });
  });
});
process.on("disconnect", () => { for (const c of running.values()) c.kill("SIGKILL"); process.exit(0); });
`;

interface Pending {
  resolve(result: HelperResult): void;
  reject(err: Error): void;
}

let helper: { child: ChildProcess; pending: Map<number, Pending> } | undefined;
let nextId = 0;
/** The helper could not be started here: programs are started by this process. */
let unusable = process.env.SLUGFORGE_PROCESS_HELPER === "off";

/** Whether runs go through the helper. */
export function helperUsable(): boolean {
  return !unusable;
}

/** The run printed more than its `maxOutputBytes` (and was ended). */
export function tooLarge(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === "TOO_LARGE";
}

/** An error of a run the helper never started (it could not be started itself): run it here instead. */
export function neverRan(err: unknown): boolean {
  return (err as { neverRan?: boolean } | undefined)?.neverRan === true;
}

function started(): NonNullable<typeof helper> {
  if (helper && helper.child.connected) return helper;
  const child = spawn(process.execPath, ["-e", HELPER_SOURCE], { stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "advanced" });
  const pending = new Map<number, Pending>();
  const current = { child, pending };
  const fail = (why: string, neverRan = false): void => {
    if (helper === current) helper = undefined;
    if (neverRan) unusable = true;
    for (const p of pending.values()) p.reject(Object.assign(new Error(`the process helper ${why}`), { neverRan }));
    pending.clear();
  };
  child.on("message", (m: Reply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    idle(current);
    if ("error" in m) p.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
    else p.resolve({ code: m.code, signal: m.signal, stdout: Buffer.from(m.stdout.buffer, m.stdout.byteOffset, m.stdout.byteLength), stderr: Buffer.from(m.stderr.buffer, m.stderr.byteOffset, m.stderr.byteLength) });
  });
  child.on("error", (err) => fail(`could not run: ${err.message}`, !child.pid));
  child.on("exit", (code, signal) => fail(`exited (${signal ?? code})`));
  helper = current;
  idle(current);
  return current;
}

/** Keeps this process alive only while runs are out. */
function idle(h: NonNullable<typeof helper>): void {
  const channel = h.child.channel as { ref?(): void; unref?(): void } | undefined;
  if (h.pending.size === 0) {
    h.child.unref();
    channel?.unref?.();
  } else {
    h.child.ref();
    channel?.ref?.();
  }
}

/**
 * Runs `run` in the helper and resolves when it has ended. Aborting `signal` ends the program
 * (SIGTERM) and rejects with an AbortError, as a child started with that signal would.
 */
export function runInHelper(run: HelperRun, signal?: AbortSignal): Promise<HelperResult> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const h = started();
  const id = nextId++;
  return new Promise<HelperResult>((resolve, reject) => {
    const onAbort = (): void => {
      if (!h.pending.delete(id)) return;
      idle(h);
      try {
        h.child.send({ kill: id });
      } catch {
        // gone already: what it ran ends with it
      }
      reject(abortError(signal!));
    };
    h.pending.set(id, {
      resolve: (r) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(r);
      },
      reject: (e) => {
        signal?.removeEventListener("abort", onAbort);
        reject(e);
      },
    });
    idle(h);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      h.child.send({ id, file: run.file, args: run.args, cwd: run.cwd, env: run.env, stdin: run.stdin, timeoutMs: run.timeoutMs, maxOutputBytes: run.maxOutputBytes });
    } catch (err) {
      h.pending.get(id)?.reject(err as Error);
      h.pending.delete(id);
      idle(h);
    }
  });
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error("The operation was aborted"), { name: "AbortError", code: "ABORT_ERR", cause: signal.reason as unknown });
}

/** Ends the helper (tests). */
export function stopHelper(): void {
  helper?.child.kill("SIGKILL");
  helper = undefined;
}
