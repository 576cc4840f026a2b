import { Transform, pipeline, type Readable, type TransformCallback } from "node:stream";
import type tar from "tar-stream";
import { decodeTarHeader, encodeTarEntry, decodePax, tarPadding, TarFormatError, type DecodedHeader } from "./tar-headers.js";

/** A tar entry header as tar-stream reads and writes it. */
export type TarHeader = Partial<tar.Header> & { name: string };

/** Returns the header to write (possibly changed), or undefined to drop the entry and its body. */
export type TarMapper = (header: TarHeader) => TarHeader | undefined;

/**
 * A quicker way for the usual entry: given a header block as it was read (no long name or pax
 * records before it), the block to write for it and the body bytes that follow, both exactly what
 * decoding, the mapper and encoding would give; or undefined, to go that way. It may not drop an
 * entry (the mapper does that).
 */
export type TarShortcut = (block: Buffer) => { header: Buffer; bodyBytes: number } | undefined;

// pax keys that would override what a mapper sets on the header (name, owner).
const OVERRIDING_PAX_KEYS = ["path", "linkpath", "uid", "gid", "uname", "gname"];
// An extended header (a long name, pax records) larger than this is refused, as tar-stream does.
const MAX_LONG_HEADER = 4 * 1024 * 1024;
const END_OF_TAR = Buffer.alloc(1024);
// An output piece at least this long is passed on as the slice of input it is, not joined with its neighbours.
const PASS_WHOLE_BYTES = 16 * 1024;

/**
 * Rewrites a tar stream entry by entry without buffering it: each entry's header goes through
 * `map`, its body is passed on as slices of the input (never copied). The output is the bytes
 * tar-stream's extract → pack would give for the same headers (ustar, pax records where a name
 * does not fit), so slugs keep their bytes. A failure anywhere — the input, the mapper, a header
 * that does not parse, an input that ends inside an entry, or a reader that goes away before
 * the end — destroys both sides with that error: the caller's build fails, never the process.
 */
export function mapTar(input: Readable, map: TarMapper, shortcut?: TarShortcut): Readable {
  const rewriter = new TarRewriter(map, shortcut);
  // pipeline destroys both with the first error, a premature close included (a killed tar, a cut exec).
  pipeline(input, rewriter, () => undefined);
  return rewriter;
}

type State = "header" | "long" | "body" | "padding";

class TarRewriter extends Transform {
  private state: State = "header";
  /** Bytes of a header or extended header split across chunks. */
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;
  /** Bytes the current header or extended header needs. */
  private need = 512;
  private long?: DecodedHeader;
  private bodyLeft = 0;
  private keepBody = false;
  private padLeft = 0;
  private outPad = 0;
  private gnuLongPath: string | undefined;
  private gnuLongLinkPath: string | undefined;
  private pax: Record<string, string> | undefined;
  private paxGlobal: Record<string, string> | undefined;
  private out: Buffer[] = [];

  constructor(
    private readonly mapper: TarMapper,
    private readonly shortcut: TarShortcut | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.consume(chunk);
    } catch (err) {
      return done(err as Error);
    }
    this.flushOut();
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.state !== "header" || this.gatheredBytes > 0) return done(new TarFormatError("Unexpected end of data"));
    this.push(END_OF_TAR);
    done();
  }

  /**
   * What one input chunk gave, pushed on: a long body slice as it is (never copied), the short
   * pieces between (headers, small files) joined, so the reader is not handed thousands of tiny
   * buffers. Joining everything copied every byte of the slug once more (55 ms of a 51 MB slug).
   */
  private flushOut(): void {
    let from = 0;
    let bytes = 0;
    const pushShort = (to: number): void => {
      if (to - from === 1) this.push(this.out[from]);
      else if (to > from) this.push(Buffer.concat(this.out.slice(from, to), bytes));
      bytes = 0;
    };
    for (let i = 0; i < this.out.length; i++) {
      const piece = this.out[i]!;
      if (piece.length < PASS_WHOLE_BYTES) {
        bytes += piece.length;
        continue;
      }
      pushShort(i);
      this.push(piece);
      from = i + 1;
    }
    pushShort(this.out.length);
    this.out = [];
  }

  private consume(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length || (this.need === 0 && this.state === "long")) {
      switch (this.state) {
        case "body": {
          const n = Math.min(this.bodyLeft, chunk.length - off);
          if (this.keepBody) this.out.push(chunk.subarray(off, off + n));
          off += n;
          this.bodyLeft -= n;
          if (this.bodyLeft === 0) this.endBody();
          break;
        }
        case "padding": {
          const n = Math.min(this.padLeft, chunk.length - off);
          off += n;
          this.padLeft -= n;
          if (this.padLeft === 0) this.state = "header";
          break;
        }
        case "header":
        case "long": {
          let block: Buffer;
          if (this.gatheredBytes === 0 && chunk.length - off >= this.need) {
            block = chunk.subarray(off, off + this.need);
            off += this.need;
          } else {
            const piece = chunk.subarray(off, off + this.need - this.gatheredBytes);
            // Copied: the chunk may be reused by its producer once this call returns.
            this.gathered.push(Buffer.from(piece));
            this.gatheredBytes += piece.length;
            off += piece.length;
            if (this.gatheredBytes < this.need) break;
            block = Buffer.concat(this.gathered, this.gatheredBytes);
            this.gathered = [];
            this.gatheredBytes = 0;
          }
          if (this.state === "header") this.header(block);
          else this.longHeader(block);
          break;
        }
      }
    }
  }

  private header(block: Buffer): void {
    const quick = this.shortcut && this.gnuLongPath === undefined && this.gnuLongLinkPath === undefined && this.pax === undefined && this.paxGlobal === undefined ? this.shortcut(block) : undefined;
    if (quick) {
      this.keepBody = true;
      this.out.push(quick.header);
      this.outPad = tarPadding(quick.bodyBytes);
      return this.startBody(quick.bodyBytes);
    }
    const h = decodeTarHeader(block);
    if (!h) return; // a zero block: the end of the archive, or padding between archives
    switch (h.type) {
      case "gnu-long-path":
      case "gnu-long-link-path":
      case "pax-global-header":
      case "pax-header":
        if (h.size > MAX_LONG_HEADER) throw new TarFormatError("Header exceeds max size");
        this.long = h;
        this.state = "long";
        this.need = h.size;
        return;
    }
    this.applyLongHeaders(h);
    if (!(h.size >= 0)) throw new TarFormatError("Invalid header");
    // A directory's size is not a body (tar-stream reads the next header right after it).
    const body = h.size === 0 || h.type === "directory" ? 0 : h.size;
    const mapped = this.mapper({ ...h } as TarHeader);
    this.keepBody = mapped !== undefined;
    this.outPad = 0;
    if (mapped) {
      const entry = encodeTarEntry(withoutOverridingPax(mapped));
      if (entry.bodyBytes !== body) throw new TarFormatError(entry.bodyBytes === 0 ? "No body allowed for this entry" : "Size mismatch");
      this.out.push(...entry.header);
      this.outPad = tarPadding(entry.bodyBytes);
    }
    this.startBody(body);
  }

  private startBody(body: number): void {
    this.bodyLeft = body;
    this.padLeft = tarPadding(body);
    if (body === 0) this.endBody();
    else this.state = "body";
  }

  private endBody(): void {
    if (this.keepBody && this.outPad > 0) this.out.push(END_OF_TAR.subarray(0, this.outPad));
    this.state = this.padLeft > 0 ? "padding" : "header";
    this.need = 512;
  }

  private longHeader(buf: Buffer): void {
    const h = this.long!;
    this.long = undefined;
    switch (h.type) {
      case "gnu-long-path":
        this.gnuLongPath = cString(buf);
        break;
      case "gnu-long-link-path":
        this.gnuLongLinkPath = cString(buf);
        break;
      case "pax-global-header":
        this.paxGlobal = decodePax(buf);
        break;
      case "pax-header":
        this.pax = this.paxGlobal === undefined ? decodePax(buf) : { ...this.paxGlobal, ...decodePax(buf) };
        break;
    }
    this.need = 512;
    this.padLeft = tarPadding(h.size);
    this.state = this.padLeft > 0 ? "padding" : "header";
  }

  private applyLongHeaders(h: DecodedHeader): void {
    if (this.gnuLongPath) h.name = this.gnuLongPath;
    if (this.gnuLongLinkPath) h.linkname = this.gnuLongLinkPath;
    this.gnuLongPath = this.gnuLongLinkPath = undefined;
    if (this.pax) {
      if (this.pax.path) h.name = this.pax.path;
      if (this.pax.linkpath) h.linkname = this.pax.linkpath;
      if (this.pax.size) h.size = parseInt(this.pax.size, 10);
      h.pax = this.pax;
      this.pax = undefined;
    }
  }
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString("utf8", 0, end === -1 ? buf.length : end);
}

function withoutOverridingPax(header: TarHeader): TarHeader & { pax?: Record<string, string> | null } {
  const pax = header.pax as Record<string, string> | null | undefined;
  if (!pax) return header as TarHeader & { pax?: null };
  const rest = { ...pax };
  for (const key of OVERRIDING_PAX_KEYS) delete rest[key];
  return { ...header, pax: Object.keys(rest).length > 0 ? rest : undefined };
}
