import { ERROR_CODES, errorLine } from "../errors.js";
import { FLUSH_PKT, parsePktLines, writePktLine, writeSideband } from "./pkt-line.js";

const MAX_HEAD_BYTES = 256 * 1024;

/**
 * Reads the command list at the start of a receive-pack request (`old new ref\0caps`, flush) so
 * that, if the push turns out too large, we can answer in git's own report-status terms.
 */
export class PushCommandHead {
  private buffered: Buffer[] = [];
  private size = 0;
  private done = false;
  refs: string[] = [];
  capabilities = new Set<string>();

  push(chunk: Buffer): void {
    if (this.done) return;
    this.buffered.push(chunk);
    this.size += chunk.length;
    try {
      const { lines } = parsePktLines(Buffer.concat(this.buffered), { untilFlush: true });
      const flushed = lines.some((l) => l.type === "flush");
      if (flushed || this.size > MAX_HEAD_BYTES) this.finish(lines);
    } catch {
      this.finish([]);
    }
  }

  private finish(lines: ReturnType<typeof parsePktLines>["lines"]): void {
    this.done = true;
    this.buffered = [];
    for (const line of lines) {
      if (line.type !== "data") continue;
      const text = line.payload.toString("utf8").replace(/\n$/, "");
      const [command, caps] = text.split("\0");
      const ref = command?.split(" ")[2];
      if (ref) this.refs.push(ref);
      for (const cap of caps?.split(" ") ?? []) if (cap) this.capabilities.add(cap);
    }
  }
}

/**
 * The receive-pack result for a push over the size limit, sent instead of running git further:
 * the message on band 2 (git shows `remote: ...`), then `ng <ref> PUSH_TOO_LARGE` per ref.
 */
export function pushTooLargeResult(head: PushCommandHead, limitBytes: number): Buffer {
  const message =
    `!     ${errorLine("PUSH_TOO_LARGE", `this push is over the server's limit of ${formatBytes(limitBytes)}.`)}\n` +
    `!     ${ERROR_CODES.PUSH_TOO_LARGE.hint}\n`;
  const report = Buffer.concat([
    // "unpack ok" because strict clients (isomorphic-git) need it to read the per-ref status at all.
    writePktLine("unpack ok\n"),
    ...head.refs.map((ref) => writePktLine(`ng ${ref} PUSH_TOO_LARGE\n`)),
    FLUSH_PKT,
  ]);
  const sideband = head.capabilities.has("side-band-64k") || head.capabilities.has("side-band");
  const reports = head.capabilities.has("report-status") || head.capabilities.has("report-status-v2");
  if (!sideband) return reports ? report : FLUSH_PKT;
  return Buffer.concat([writeSideband(2, message), ...(reports ? [writeSideband(1, report)] : []), FLUSH_PKT]);
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  return `${n} bytes`;
}
