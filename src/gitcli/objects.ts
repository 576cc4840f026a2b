import { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { runGit, runGitCollected, type GitOptions } from "./git.js";

/** Output read whole through the process helper up to this; past it, cat-file is run again and streamed. */
const COLLECTED_BYTES = 4 * 1024 * 1024;

export interface GitObject {
  readonly oid: string;
  /** blob, tree, commit or tag */
  readonly type: string;
  /** The whole object's size in bytes. */
  readonly size: number;
  /** Its first `maxBytes` bytes: all of it when `size <= maxBytes`. */
  readonly head: Buffer;
}

export interface ReadObjectsOptions extends GitOptions {
  /** How much of each object is kept; the rest streams past unkept. */
  readonly maxBytes: number;
}

/**
 * Reads objects by name (`<commit>`, `<commit>:<path>`) with one `git cat-file --batch`, in the
 * order asked; a name that names nothing gives undefined. Only the first `maxBytes` of each object
 * are kept, so a huge blob costs the time to stream it past, never the memory.
 */
export async function readObjects(names: readonly string[], options: ReadObjectsOptions): Promise<(GitObject | undefined)[]> {
  const bad = names.find((n) => n.includes("\n") || n === "");
  if (bad !== undefined) throw new Error(`not an object name for cat-file --batch: ${JSON.stringify(bad)}`);
  const parser = new CatFileBatchParser(options.maxBytes);
  const stdin = names.map((n) => `${n}\n`).join("");
  // Small answers (the usual: a commit and a few small files) are read whole through the process
  // helper; a large one is read again, streamed, so only maxBytes of each object is kept.
  const whole = await runGitCollected(["cat-file", "--batch"], { ...options, stdin }, Math.max(COLLECTED_BYTES, options.maxBytes));
  const result = whole ?? (await runGit(["cat-file", "--batch"], { ...options, stdin, stdout: parser }));
  if (whole) {
    parser.end(whole.output);
    // A parse failure is kept by the parser and thrown by objects() below.
    await finished(parser).catch(() => undefined);
  }
  if (result.code !== 0) throw new Error(`git cat-file --batch exited with ${result.code}: ${result.stderr.trim()}`);
  const objects = parser.objects();
  if (objects.length !== names.length) throw new Error(`git cat-file --batch answered ${objects.length} of ${names.length} names`);
  return objects;
}

const OBJECT_HEADER = /^([0-9a-f]{40}(?:[0-9a-f]{24})?) ([a-z]+) (\d+)$/;
const MAX_HEADER = 4096;

/**
 * `git cat-file --batch` output, parsed as it arrives: `<oid> <type> <size>\n<bytes>\n` for an
 * object, `<name> missing\n` (or `ambiguous`) for a name that names none.
 */
export class CatFileBatchParser extends Writable {
  private readonly parsed: (GitObject | undefined)[] = [];
  private header: Buffer[] = [];
  private headerBytes = 0;
  private body: { oid: string; type: string; size: number; left: number; kept: Buffer[]; keep: number } | undefined;
  private newlineDue = false;
  private failure: Error | undefined;

  constructor(private readonly maxBytes: number) {
    super();
  }

  /** The objects read so far; throws when the output was not cat-file's. */
  objects(): (GitObject | undefined)[] {
    if (this.failure) throw this.failure;
    if (this.body || this.headerBytes > 0 || this.newlineDue) throw new Error("git cat-file --batch output ended inside an object");
    return [...this.parsed];
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    // Parsed at once (done is called synchronously): the caller reads objects() when git exits.
    try {
      if (!this.failure) this.consume(chunk);
    } catch (err) {
      this.failure = err as Error;
    }
    done();
  }

  private consume(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.newlineDue) {
        if (chunk[at] !== 0x0a) throw new Error("git cat-file --batch: no newline after an object");
        this.newlineDue = false;
        at++;
      } else if (this.body) {
        at = this.takeBody(chunk, at);
      } else {
        const end = chunk.indexOf(0x0a, at);
        const piece = chunk.subarray(at, end === -1 ? chunk.length : end);
        this.header.push(piece);
        this.headerBytes += piece.length;
        if (this.headerBytes > MAX_HEADER) throw new Error("git cat-file --batch: header line too long");
        if (end === -1) return;
        this.startObject(Buffer.concat(this.header).toString("utf8"));
        this.header = [];
        this.headerBytes = 0;
        at = end + 1;
      }
    }
  }

  private startObject(line: string): void {
    const m = OBJECT_HEADER.exec(line);
    if (!m) {
      if (/ (missing|ambiguous)$/.test(line)) this.parsed.push(undefined);
      else throw new Error(`git cat-file --batch: unexpected line ${JSON.stringify(line.slice(0, 200))}`);
      return;
    }
    const size = Number(m[3]);
    this.body = { oid: m[1]!, type: m[2]!, size, left: size, kept: [], keep: Math.min(size, this.maxBytes) };
    if (size === 0) this.finishObject();
  }

  private takeBody(chunk: Buffer, at: number): number {
    const body = this.body!;
    const take = Math.min(body.left, chunk.length - at);
    const keptSoFar = body.size - body.left;
    if (keptSoFar < body.keep) body.kept.push(chunk.subarray(at, at + Math.min(take, body.keep - keptSoFar)));
    body.left -= take;
    if (body.left === 0) this.finishObject();
    return at + take;
  }

  private finishObject(): void {
    const { oid, type, size, kept } = this.body!;
    this.parsed.push({ oid, type, size, head: Buffer.concat(kept) });
    this.body = undefined;
    this.newlineDue = true;
  }
}
