/**
 * Git pkt-lines (gitprotocol-common(5)): four hex digits of length, counting themselves, then the
 * payload. Lengths are bytes, never JS string lengths (node-git-server broke on UTF-8 this way).
 */

/** A special packet: flush `0000`, delim `0001`, response-end `0002`. */
export type PktLine = { readonly type: "data"; readonly payload: Buffer } | { readonly type: "flush" | "delim" | "end" };

/** Largest payload of one pkt-line (65520 bytes in all). */
export const MAX_PKT_PAYLOAD = 65516;
/** Largest side-band-64k data per packet: the band byte takes one of the payload bytes. */
export const MAX_SIDEBAND_DATA = MAX_PKT_PAYLOAD - 1;

export const FLUSH_PKT = Buffer.from("0000", "ascii");

export class PktLineError extends Error {
  readonly code = "PKT_LINE_INVALID";
  constructor(message: string) {
    super(message);
    this.name = "PktLineError";
  }
}

/** Encodes one data pkt-line. */
export function writePktLine(payload: string | Buffer): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  if (body.length > MAX_PKT_PAYLOAD) throw new PktLineError(`pkt-line payload of ${body.length} bytes is over ${MAX_PKT_PAYLOAD}`);
  const head = Buffer.from((body.length + 4).toString(16).padStart(4, "0"), "ascii");
  return Buffer.concat([head, body]);
}

export interface ParsedPktLines {
  readonly lines: PktLine[];
  /** Bytes after the last complete packet (a packet split across chunks). */
  readonly rest: Buffer;
}

/**
 * Decodes as many complete pkt-lines as `buf` holds; the caller keeps `rest` for the next chunk.
 * Stops after `untilFlush` at the first flush, leaving what follows in `rest` (e.g. a PACK).
 */
export function parsePktLines(buf: Buffer, options: { untilFlush?: boolean } = {}): ParsedPktLines {
  const lines: PktLine[] = [];
  let at = 0;
  while (buf.length - at >= 4) {
    const hex = buf.subarray(at, at + 4).toString("ascii");
    if (!/^[0-9a-f]{4}$/i.test(hex)) throw new PktLineError(`bad pkt-line length ${JSON.stringify(hex)}`);
    const len = parseInt(hex, 16);
    if (len === 0 || len === 1 || len === 2) {
      lines.push({ type: len === 0 ? "flush" : len === 1 ? "delim" : "end" });
      at += 4;
      if (len === 0 && options.untilFlush) break;
      continue;
    }
    if (len < 4) throw new PktLineError(`bad pkt-line length ${len}`);
    if (buf.length - at < len) break;
    lines.push({ type: "data", payload: buf.subarray(at + 4, at + len) });
    at += len;
  }
  return { lines, rest: buf.subarray(at) };
}

/** Side-band-64k packets for `data` on `band` (1 data, 2 progress, 3 fatal), split at the size limit. */
export function writeSideband(band: 1 | 2 | 3, data: string | Buffer): Buffer {
  const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  const packets: Buffer[] = [];
  for (let at = 0; at < body.length || (at === 0 && body.length === 0); at += MAX_SIDEBAND_DATA) {
    packets.push(writePktLine(Buffer.concat([Buffer.from([band]), body.subarray(at, at + MAX_SIDEBAND_DATA)])));
    if (body.length === 0) break;
  }
  return Buffer.concat(packets);
}
