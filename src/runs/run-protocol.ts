import { Transform, type TransformCallback } from "node:stream";

/*
 * `slugforge run` over one HTTP request: the request's body is the process's stdin (its end is
 * stdin's end), and the response's body is a series of frames, each a type byte, a 4-byte
 * big-endian length and the payload: stdout, stderr, an error message, and last the exit code.
 * The spec of what to run travels in the X-Slugforge-Run header (base64url JSON).
 */

export const RUN_CONTENT_TYPE = "application/x-slugforge-run";
export const RUN_SPEC_HEADER = "x-slugforge-run";

export const FRAME = { stdout: 1, stderr: 2, error: 3, exit: 4 } as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

export interface RunSpec {
  /** A process type, or a command and its arguments. */
  readonly args: readonly string[];
  /** The release to run; the current one when absent. */
  readonly release?: number;
  /** Publish $PORT on 127.0.0.1 of the server's host at this port (a local preview). */
  readonly port?: number;
  /** A terminal for the process (the CLI's own stdin and stdout are one). */
  readonly tty?: boolean;
}

export function encodeSpec(spec: RunSpec): string {
  return Buffer.from(JSON.stringify(spec), "utf8").toString("base64url");
}

/** The spec from the header, or a message saying what is wrong with it. */
export function decodeSpec(header: string | undefined): RunSpec | string {
  if (!header) return `send what to run in the ${RUN_SPEC_HEADER} header`;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
  } catch {
    return `the ${RUN_SPEC_HEADER} header is not base64url JSON`;
  }
  const s = v as Partial<Record<keyof RunSpec, unknown>>;
  if (typeof v !== "object" || v === null || !Array.isArray(s.args) || s.args.length === 0 || !s.args.every((a) => typeof a === "string")) {
    return "name a process type or a command to run";
  }
  if (s.release !== undefined && (typeof s.release !== "number" || !Number.isInteger(s.release) || s.release < 1)) return "the release is a positive whole number";
  if (s.port !== undefined && (typeof s.port !== "number" || !Number.isInteger(s.port) || s.port < 1 || s.port > 65535)) return "the port is 1 to 65535";
  if (s.tty !== undefined && typeof s.tty !== "boolean") return "tty is true or false";
  return { args: s.args as string[], release: s.release as number | undefined, port: s.port as number | undefined, tty: s.tty as boolean | undefined };
}

export function frame(type: FrameType, payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const head = Buffer.alloc(5);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

export function exitFrame(code: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeInt32BE(code, 0);
  return frame(FRAME.exit, body);
}

/** Splits a response body into frames as bytes arrive (objects out: `{ type, payload }`). */
export class FrameReader extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  constructor() {
    super({ readableObjectMode: true });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 5) {
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + length) break;
      this.push({ type: this.pending.readUInt8(0) as FrameType, payload: this.pending.subarray(5, 5 + length) });
      this.pending = this.pending.subarray(5 + length);
    }
    done();
  }
  override _flush(done: TransformCallback): void {
    done(this.pending.length ? new Error("the run's answer ended inside a frame") : null);
  }
}
