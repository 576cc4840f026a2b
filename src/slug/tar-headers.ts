import type tar from "tar-stream";

/**
 * Tar headers read and written the way tar-stream 3 does (ustar out; ustar, GNU and pax in), so a
 * rewrite by `mapTar` gives the bytes tar-stream's extract → pack gave: slugs built before and
 * after keep their bytes, and their compressed blocks stay reusable. Kept in one place, beside
 * the rewriter, so the two cannot drift apart.
 */

export class TarFormatError extends Error {}

export type DecodedHeader = Omit<tar.Header, "type" | "linkname" | "pax"> & {
  type: tar.Header["type"] | "gnu-long-path" | "gnu-long-link-path" | "pax-header" | "pax-global-header" | null;
  linkname: string | null;
  pax: Record<string, string> | null;
};

const USTAR_MAGIC = Buffer.from("ustar\0", "latin1");
const USTAR_VERSION = Buffer.from("00", "latin1");
const GNU_MAGIC = Buffer.from("ustar ", "latin1");
const GNU_VERSION = Buffer.from(" \0", "latin1");
const MASK = 0o7777;

const TYPES: Record<number, DecodedHeader["type"]> = {
  0: "file",
  1: "link",
  2: "symlink",
  3: "character-device",
  4: "block-device",
  5: "directory",
  6: "fifo",
  7: "contiguous-file",
  72: "pax-header",
  55: "pax-global-header",
  27: "gnu-long-link-path",
  28: "gnu-long-path",
  30: "gnu-long-path",
};
const FLAGS: Record<string, number> = {
  file: 0,
  link: 1,
  symlink: 2,
  "character-device": 3,
  "block-device": 4,
  directory: 5,
  fifo: 6,
  "contiguous-file": 7,
  "pax-header": 72,
};

/** Bytes of zeros after a body of `size` bytes, up to the next 512-byte block. */
export function tarPadding(size: number): number {
  const over = size & 511;
  return over && 512 - over;
}

/** One 512-byte header; undefined for a block of zeros (the end of an archive). */
export function decodeTarHeader(buf: Buffer): DecodedHeader | undefined {
  // The type comes from the flag alone: tar-stream's "a '0' entry whose name ends in / is a folder" came too late to count.
  const typeflag = buf[156] === 0 ? 0 : buf[156]! - 48;
  const name = headerName(buf);
  if (name instanceof TarFormatError) throw name;
  if (name === undefined) return undefined;
  return {
    name,
    mode: decodeOctal(buf, 100, 8),
    uid: decodeOctal(buf, 108, 8),
    gid: decodeOctal(buf, 116, 8),
    size: decodeOctal(buf, 124, 12),
    mtime: new Date(1000 * decodeOctal(buf, 136, 12)),
    type: TYPES[typeflag] ?? null,
    linkname: buf[157] === 0 ? null : decodeString(buf, 157, 100),
    uname: decodeString(buf, 265, 32),
    gname: decodeString(buf, 297, 32),
    devmajor: decodeOctal(buf, 329, 8),
    devminor: decodeOctal(buf, 337, 8),
    pax: null,
  };
}

/** The name a header block holds once its checksum and format are checked; undefined for a block of zeros, the error for a block that is not a header. */
function headerName(buf: Buffer): string | undefined | TarFormatError {
  let name = decodeString(buf, 0, 100);
  const sum = checksum(buf);
  if (sum === 8 * 32) return undefined;
  if (sum !== decodeOctal(buf, 148, 8)) return new TarFormatError("Invalid tar header. Maybe the tar is corrupted or it needs to be gunzipped?");
  if (buf.compare(USTAR_MAGIC, 0, 6, 257, 263) === 0) {
    if (buf[345]) name = `${decodeString(buf, 345, 155)}/${name}`;
  } else if (!(buf.compare(GNU_MAGIC, 0, 6, 257, 263) === 0 && buf.compare(GNU_VERSION, 0, 2, 263, 265) === 0)) {
    return new TarFormatError("Invalid tar header: unknown format.");
  }
  return name;
}

/** The fields of a plain header: a file or folder without a link name, read as decodeTarHeader reads them. */
export interface PlainHeader {
  readonly name: string;
  readonly directory: boolean;
  readonly mode: number;
  /** The body's bytes (0 for a folder). */
  readonly size: number;
  /** Seconds since the epoch. */
  readonly mtime: number;
}

/**
 * The fields of a file's or folder's header block that a rewrite needs, read without the rest
 * (owners, devices, a Date); undefined for anything else (a zero block, a link, a long name or pax
 * records, a size that does not read, a block that is not a header), which decodeTarHeader is then
 * to read.
 */
export function readPlainHeader(buf: Buffer): PlainHeader | undefined {
  const flag = buf[156];
  const directory = flag === 53;
  if (!(directory || flag === 48 || flag === 0) || buf[157] !== 0) return undefined;
  const name = headerName(buf);
  const size = decodeOctal(buf, 124, 12);
  if (typeof name !== "string" || !(size >= 0)) return undefined;
  return { name, directory, mode: decodeOctal(buf, 100, 8), size: directory ? 0 : size, mtime: decodeOctal(buf, 136, 12) };
}

/** pax records (`LEN key=value\n` …), as tar-stream reads them: malformed records end the list. */
export function decodePax(buf: Buffer): Record<string, string> {
  const result: Record<string, string> = {};
  let rest = buf;
  while (rest.length) {
    let i = 0;
    while (i < rest.length && rest[i] !== 32) i++;
    const len = parseInt(rest.toString("utf8", 0, i), 10);
    if (!len) return result;
    const record = rest.toString("utf8", i + 1, len - 1);
    const eq = record.indexOf("=");
    if (eq === -1) return result;
    result[record.slice(0, eq)] = record.slice(eq + 1);
    rest = rest.subarray(len);
  }
  return result;
}

type EntryHeader = Partial<Omit<tar.Header, "pax">> & { name: string; pax?: Record<string, string> | null | undefined };

/**
 * The header blocks of one entry as tar-stream's pack writes them (defaults filled in the same
 * way; a pax header first when the name, link name or pax records need one), and the body bytes
 * that must follow. Entries other than files carry no body.
 */
export function encodeTarEntry(input: EntryHeader): { header: Buffer[]; bodyBytes: number } {
  const type = input.type ?? modeToType(input.mode ?? 0);
  const isFile = type === "file" || type === "contiguous-file";
  const h: Required<Pick<tar.Header, "name" | "mode" | "uid" | "gid" | "size" | "mtime">> & EntryHeader = {
    ...input,
    type,
    size: isFile ? input.size || 0 : 0,
    mode: input.mode || (type === "directory" ? 0o755 : 0o644),
    uid: input.uid || 0,
    gid: input.gid || 0,
    mtime: input.mtime || new Date(),
  };
  const fields = { ...h, mtime: (h.mtime.getTime() / 1000) | 0 };
  if (!h.pax) {
    const plain = encodeUstarHeader(fields);
    if (plain) return { header: [plain], bodyBytes: h.size };
  }
  const records = encodePax(h.name, h.linkname, h.pax);
  const paxHeader = {
    name: "PaxHeader",
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: records.length,
    mtime: fields.mtime,
    type: "pax-header",
    linkname: h.linkname ? "PaxHeader" : h.linkname,
    uname: h.uname,
    gname: h.gname,
    devmajor: h.devmajor,
    devminor: h.devminor,
  };
  const header = [encodeUstarHeader(paxHeader)!, records];
  const pad = tarPadding(records.length);
  if (pad) header.push(Buffer.alloc(pad));
  header.push(encodeUstarHeader({ ...paxHeader, size: h.size, type: h.type })!);
  return { header, bodyBytes: h.size };
}

export interface UstarFields {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch, as a header holds them (the caller's `| 0`). */
  mtime: number;
  type?: string | null | undefined;
  linkname?: string | null | undefined;
  uname?: string | undefined;
  gname?: string | undefined;
  devmajor?: number | undefined;
  devminor?: number | undefined;
}

/** A ustar header, or undefined when the name or link name does not fit one (then pax it is). */
export function encodeUstarHeader(opts: UstarFields): Buffer | undefined {
  let name = opts.name;
  let prefix = "";
  if (Buffer.byteLength(name) !== name.length) return undefined; // not ASCII: from here a length is a byte count
  while (name.length > 100) {
    const i = name.indexOf("/");
    if (i === -1) return undefined;
    prefix += prefix ? `/${name.slice(0, i)}` : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (name.length > 100 || prefix.length > 155) return undefined;
  if (opts.linkname && Buffer.byteLength(opts.linkname) > 100) return undefined;
  const buf = headerBlock();
  buf.write(name, 0, "latin1");
  writeOctal(buf, 100, opts.mode & MASK, 6);
  writeOctal(buf, 108, opts.uid, 6);
  writeOctal(buf, 116, opts.gid, 6);
  encodeSize(opts.size, buf, 124);
  writeOctal(buf, 136, opts.mtime, 11);
  buf[156] = 48 + (FLAGS[opts.type ?? ""] ?? 0);
  if (opts.linkname) buf.write(opts.linkname, 157);
  USTAR_MAGIC.copy(buf, 257);
  USTAR_VERSION.copy(buf, 263);
  if (opts.uname) buf.write(opts.uname, 265);
  if (opts.gname) buf.write(opts.gname, 297);
  writeOctal(buf, 329, opts.devmajor || 0, 6);
  writeOctal(buf, 337, opts.devminor || 0, 6);
  if (prefix) buf.write(prefix, 345, "latin1");
  writeOctal(buf, 148, checksum(buf), 6);
  return buf;
}

/*
 * Zeroed 512-byte blocks cut from a larger zeroed buffer: a header each (allocating each one on
 * its own cost more than writing it, over the 20 000 entries of a large app).
 */
const SLAB_BLOCKS = 128;
let slab = Buffer.alloc(0);
let slabUsed = 0;
function headerBlock(): Buffer {
  if (slabUsed === slab.length) {
    slab = Buffer.alloc(512 * SLAB_BLOCKS);
    slabUsed = 0;
  }
  slabUsed += 512;
  return slab.subarray(slabUsed - 512, slabUsed);
}

/** What `buf.write(encodeOctal(value, n), off)` writes (n digits and a space), without the string. */
function writeOctal(buf: Buffer, off: number, value: number, n: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    buf.write(encodeOctal(value, n), off);
    return;
  }
  if (value >= 8 ** n) {
    buf.fill(55, off, off + n);
  } else {
    for (let i = off + n - 1; i >= off; i--) {
      buf[i] = 48 + (value % 8);
      value = Math.floor(value / 8);
    }
  }
  buf[off + n] = 32;
}

function encodePax(name: string, linkname: string | null | undefined, pax: Record<string, string> | null | undefined): Buffer {
  let result = "";
  if (name) result += withLength(` path=${name}\n`);
  if (linkname) result += withLength(` linkpath=${linkname}\n`);
  if (pax) for (const key in pax) result += withLength(` ${key}=${pax[key]}\n`);
  return Buffer.from(result);
}

function withLength(record: string): string {
  const len = Buffer.byteLength(record);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= Math.pow(10, digits)) digits++;
  return `${len + digits}${record}`;
}

function modeToType(mode: number): tar.Header["type"] {
  switch (mode & 0o170000) {
    case 0o060000:
      return "block-device";
    case 0o020000:
      return "character-device";
    case 0o040000:
      return "directory";
    case 0o010000:
      return "fifo";
    case 0o120000:
      return "symlink";
  }
  return "file";
}

function checksum(block: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let j = 156; j < 512; j++) sum += block[j]!;
  return sum;
}

function encodeOctal(value: number, n: number): string {
  const s = value.toString(8);
  if (s.length > n) return `${"7".repeat(n)} `;
  return `${"0".repeat(n - s.length)}${s} `;
}

function encodeSize(num: number, buf: Buffer, off: number): void {
  if (num.toString(8).length > 11) {
    buf[off] = 0x80;
    for (let i = 11; i > 0; i--) {
      buf[off + i] = num & 0xff;
      num = Math.floor(num / 0x100);
    }
  } else {
    writeOctal(buf, off, num, 11);
  }
}

function decodeString(buf: Buffer, offset: number, length: number): string {
  let end = offset;
  const limit = offset + length;
  while (end < limit && buf[end] !== 0) end++;
  return buf.toString("utf8", offset, end);
}

function decodeOctal(buf: Buffer, offset: number, length: number): number {
  // The usual field (digits, then a space or NUL), read in place; anything else as parseInt reads it.
  const limit = offset + length;
  if (!(buf[offset]! & 0x80)) {
    let i = offset;
    while (i < limit && buf[i] === 32) i++;
    let end = i;
    while (end < limit && buf[end] !== 32) end++;
    while (i < end && buf[i] === 0) i++;
    if (end === i) return 0;
    let value = 0;
    let j = i;
    for (; j < end; j++) {
      const c = buf[j]!;
      if (c < 48 || c > 55) break;
      value = value * 8 + (c - 48);
    }
    if (j > i) return value;
  }
  return decodeOctalSlowly(buf, offset, length);
}

function decodeOctalSlowly(buf: Buffer, offset: number, length: number): number {
  const val = buf.subarray(offset, offset + length);
  if (val[0]! & 0x80) return parseBase256(val);
  let start = 0;
  while (start < val.length && val[start] === 32) start++;
  let end = val.indexOf(32, start);
  if (end === -1) end = val.length;
  while (start < end && val[start] === 0) start++;
  if (end === start) return 0;
  return parseInt(val.toString("latin1", start, end), 8);
}

/** GNU's base-256 numbers: 0x80 then big-endian bytes for positive, 0xff and two's complement for negative. */
function parseBase256(buf: Buffer): number {
  const positive = buf[0] === 0x80;
  if (!positive && buf[0] !== 0xff) return NaN;
  let sum = 0;
  for (let i = 1; i < buf.length; i++) sum = sum * 256 + (positive ? buf[i]! : 0xff - buf[i]!);
  return positive ? sum : -sum;
}
