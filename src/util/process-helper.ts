import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { finished, PassThrough, type Readable, type Writable } from "node:stream";
import { signalProcessGroup } from "./process-group.js";

/**
 * A small Node process that starts programs for this one and sends back what they printed.
 *
 * Starting a child copies the parent's page tables while the parent waits, so its cost grows with
 * the parent's memory: on this kind of machine about 2 ms at 45 MB resident, 5 ms at 100 MB and 19
 * ms at 250 MB, all of it time in which the server does nothing else (the build's output, other
 * pushes). A server runs git many times a push (cat-file, rev-parse, log, ls-tree); the helper,
 * at about 40 MB, starts them for it. Runs whose input is given whole and whose output is
 * collected whole come back as bytes (run-process.ts). A child whose input and output stream
 * (receive-pack, archive) is started there too, and the ends of its pipes are handed to this
 * process (`spawnInHelper`), which reads and writes them as its own.
 *
 * The helper is started on first use and ends with this process (its IPC channel closing ends it
 * and what it runs). Should it die, what it ran is killed with its process group, the runs it had
 * fail, and the next run starts a new one.
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
  | { readonly id: number; readonly error: { readonly message: string; readonly code?: string; readonly errno?: number } }
  /** A streamed child's pipe end (0, 1 or 2), sent with the message as its handle. */
  | { readonly id: number; readonly fd: 0 | 1 | 2; readonly pid: number }
  | { readonly id: number; readonly exited: true; readonly code: number | null; readonly signal: NodeJS.Signals | null };

// The helper itself, run with `node -e` (no file to find, compiled or not). It must not throw.
const HELPER_SOURCE = `
const { spawn } = require("node:child_process");
const running = new Map();
// The server gone (its channel closed): nothing is sent, and the helper ends on "disconnect".
const send = (m, handle) => { try { process.send(m, handle, {}, () => {}); } catch {} };
process.on("error", () => {});
const failed = (m, err) => send({ id: m.id, error: { message: String(err && err.message), code: err && err.code, errno: err && err.errno } });
const streamed = (m) => {
  let child;
  try {
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, detached: m.detached, stdio: ["pipe", "pipe", "pipe"] });
  } catch (err) { failed(m, err); return; }
  if (child.pid === undefined) { child.on("error", (err) => failed(m, err)); return; }
  // Nothing it prints is read here (reading starts as the child starts; its first bytes would be
  // lost with the handle): the ends go to the server as they are.
  for (const s of [child.stdout, child.stderr]) if (s._handle && s._handle.readStop) s._handle.readStop();
  child.group = m.detached;
  running.set(m.id, child);
  send({ id: m.id, fd: 0, pid: child.pid }, child.stdin);
  send({ id: m.id, fd: 1, pid: child.pid }, child.stdout);
  send({ id: m.id, fd: 2, pid: child.pid }, child.stderr);
  child.on("error", () => {});
  child.on("exit", (code, signal) => { running.delete(m.id); send({ id: m.id, exited: true, code, signal }); });
};
process.on("message", (m) => {
  if (m.kill !== undefined) { const c = running.get(m.kill); if (c) c.kill("SIGTERM"); return; }
  if (m.stream) { streamed(m); return; }
  let child;
  try {
    child = spawn(m.file, m.args, { cwd: m.cwd, env: m.env, timeout: m.timeoutMs, stdio: [m.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
  } catch (err) { failed(m, err); return; }
  running.set(m.id, child);
  const out = [], errs = [];
  let done = false;
  let bytes = 0;
  const over = () => {
    if (m.maxOutputBytes === undefined || bytes <= m.maxOutputBytes || done) return;
    done = true; running.delete(m.id); child.kill("SIGKILL");
    send({ id: m.id, error: { message: "output too large", code: "TOO_LARGE" } });
  };
  child.stdout.on("data", (b) => { if (done) return; bytes += b.length; out.push(b); over(); });
  child.stderr.on("data", (b) => { if (done) return; bytes += b.length; errs.push(b); over(); });
  if (child.stdin) { child.stdin.on("error", () => {}); child.stdin.end(m.stdin); }
  child.on("error", (err) => { if (done) return; done = true; running.delete(m.id); failed(m, err); });
  child.on("close", (code, signal) => {
    running.delete(m.id);
    if (child.stdin) child.stdin.destroy();
    if (!done) send({ id: m.id, code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(errs) });
  });
});
const killNow = (c) => { try { if (c.group) process.kill(-c.pid, "SIGKILL"); else c.kill("SIGKILL"); } catch {} };
process.on("disconnect", () => { for (const c of running.values()) killNow(c); process.exit(0); });
`;

interface Pending {
  resolve(result: HelperResult): void;
  reject(err: Error): void;
}

let helper: { child: ChildProcess; pending: Map<number, Pending>; streams: Map<number, HelperChild> } | undefined;
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
  // In a process group of its own, which what it starts (bar a streamed child's own group) shares:
  // should the helper die, its group is killed, children whose pid never reached this process too.
  const child = spawn(process.execPath, ["-e", HELPER_SOURCE], { stdio: ["ignore", "ignore", "inherit", "ipc"], serialization: "advanced", detached: true });
  const pending = new Map<number, Pending>();
  const streams = new Map<number, HelperChild>();
  const current = { child, pending, streams };
  const fail = (why: string, neverRan = false): void => {
    if (helper === current) helper = undefined;
    if (neverRan) unusable = true;
    for (const p of pending.values()) p.reject(Object.assign(new Error(`the process helper ${why}`), { neverRan }));
    pending.clear();
    for (const s of streams.values()) s.lost();
    streams.clear();
  };
  child.on("message", (m: Reply, handle?: Socket) => {
    const s = streams.get(m.id);
    if (s) {
      if ("fd" in m) s.handOver(m.fd, m.pid, handle);
      else if ("exited" in m || "error" in m) {
        streams.delete(m.id);
        idle(current);
        if ("error" in m) s.failed(Object.assign(new Error(m.error.message), { code: m.error.code, errno: m.error.errno }));
        else s.exited(m.code, m.signal);
      }
      return;
    }
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    idle(current);
    if ("fd" in m || "exited" in m) return;
    if ("error" in m) p.reject(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}));
    else p.resolve({ code: m.code, signal: m.signal, stdout: Buffer.from(m.stdout.buffer, m.stdout.byteOffset, m.stdout.byteLength), stderr: Buffer.from(m.stderr.buffer, m.stderr.byteOffset, m.stderr.byteLength) });
  });
  child.on("error", (err) => fail(`could not run: ${err.message}`, !child.pid));
  child.on("exit", (code, signal) => {
    // What is left of its group: the programs it ran.
    if (child.pid !== undefined) signalProcessGroup(child.pid, "SIGKILL");
    fail(`exited (${signal ?? code})`);
  });
  helper = current;
  idle(current);
  return current;
}

/** Keeps this process alive only while runs are out. */
function idle(h: NonNullable<typeof helper>): void {
  const channel = h.child.channel as { ref?(): void; unref?(): void } | undefined;
  if (h.pending.size === 0 && h.streams.size === 0) {
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

/** What callers of a streamed child use of it: a ChildProcess started here, or one the helper started. */
export interface StreamedChild {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Undefined until it has started (in the helper: until its pipes are here; `spawn` is emitted then). */
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: "close" | "exit", listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  on(event: "spawn", listener: () => void): this;
  once(event: "close" | "exit", listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: "error", listener: (err: Error) => void): this;
  once(event: "spawn", listener: () => void): this;
}

export interface StreamedRun {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env: NodeJS.ProcessEnv;
  /** In a process group of its own (to be stopped with all it started). */
  readonly detached?: boolean;
}

/**
 * Starts `run` in the helper with its stdin, stdout and stderr as pipes whose ends come back here:
 * it behaves as `spawn(file, args, { stdio: "pipe" })` would, bar the cost of starting it. Its
 * streams are usable at once (what is written before the pipes arrive waits for them); `pid` is
 * set, and `spawn` emitted, when they arrive. `close` comes after `exit` and after both outputs
 * have ended or were destroyed. Should the helper die, the child's group is killed and it
 * exits as killed (SIGKILL).
 */
export function spawnInHelper(run: StreamedRun): StreamedChild {
  const h = started();
  const id = nextId++;
  const child = new HelperChild();
  h.streams.set(id, child);
  idle(h);
  try {
    h.child.send({ id, stream: true, file: run.file, args: run.args, cwd: run.cwd, env: run.env, detached: run.detached === true });
  } catch (err) {
    h.streams.delete(id);
    idle(h);
    process.nextTick(() => child.failed(err as Error));
  }
  return child;
}

class HelperChild extends EventEmitter implements StreamedChild {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private wanted: NodeJS.Signals | undefined;
  private outputsOpen = 2;
  private ended = false;
  private readonly sockets: Socket[] = [];

  constructor() {
    super();
    for (const out of [this.stdout, this.stderr]) {
      finished(out, { writable: false }, () => {
        this.outputsOpen--;
        this.maybeClose();
      });
      // An output nobody reads ends once it has ended empty (a ChildProcess's stdout does too).
      out.once("finish", () => out.readableLength === 0 && out.read(0));
    }
    // Nothing more can be written (a caller's destroy): the pipe's end goes too.
    this.stdin.once("close", () => !this.stdin.readableEnded && this.sockets[0]?.destroy());
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): boolean {
    if (this.ended) return false;
    if (this.pid === undefined) {
      this.wanted = signal;
      return true;
    }
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  handOver(fd: 0 | 1 | 2, pid: number, socket: Socket | undefined): void {
    if (!socket) return;
    this.sockets[fd] = socket;
    if (fd === 0) {
      // Its stdin: what is written to ours goes to it. An early exit (EPIPE) is the stdin's error, as with spawn.
      socket.on("error", (err) => this.stdin.destroy(err));
      socket.on("data", () => undefined);
      if (this.stdin.destroyed) socket.destroy();
      else this.stdin.pipe(socket);
    } else {
      const out = fd === 1 ? this.stdout : this.stderr;
      socket.on("error", (err) => out.destroy(err));
      if (out.destroyed) socket.destroy();
      else {
        socket.pipe(out);
        out.once("close", () => socket.destroy());
      }
    }
    if (fd === 2) {
      this.pid = pid;
      this.emit("spawn");
      if (this.wanted) this.kill(this.wanted);
    }
  }

  exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.ended = true;
    this.exitCode = code;
    this.signalCode = signal;
    this.emit("exit", code, signal);
    this.maybeClose();
  }

  failed(err: Error & { errno?: number }): void {
    this.ended = true;
    this.exitCode = err.errno ?? -1;
    this.emit("error", err);
    for (const s of [this.stdin, this.stdout, this.stderr]) s.destroy();
    this.maybeClose();
  }

  /** The helper died: what it started is killed, and ends as killed. */
  lost(): void {
    // Its pipes never came: nothing of it will.
    if (this.pid === undefined) for (const s of [this.stdin, this.stdout, this.stderr]) s.destroy();
    else if (!signalProcessGroup(this.pid, "SIGKILL")) {
      try {
        process.kill(this.pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    this.exited(null, "SIGKILL");
  }

  private closed = false;
  private maybeClose(): void {
    if (this.closed || !this.ended || this.outputsOpen > 0) return;
    this.closed = true;
    this.stdin.destroy();
    this.emit("close", this.exitCode, this.signalCode);
  }
}
