import { Writable } from "node:stream";
import type { BuildOutput } from "./types.js";

/** Heroku's output conventions: `-----> ` steps, 7-space detail lines, ` !     ` errors. */
export interface BuildPrinter {
  step(text: string): void;
  detail(text: string): void;
  error(text: string): void;
  /** A writable for a program's stdout or stderr: whole lines, bytes untouched. */
  stream(): Writable & { flushNow(): void };
}

export function createBuildPrinter(output: BuildOutput): BuildPrinter {
  const lines = (prefix: string, text: string): void => {
    for (const line of text.split("\n")) output.write(`${prefix}${line}\n`);
  };
  return {
    step: (text) => lines("-----> ", text),
    detail: (text) => lines("       ", text),
    error: (text) => lines(" !     ", text),
    stream: () => createLineWriter(output),
  };
}

/**
 * Passes a program's output on as it comes, but a whole line (up to `\n` or `\r`) at a time, so
 * stdout and stderr written to the same place never cut into each other's lines. A partial line
 * (a prompt, a progress bar) is passed on after `idleMs`, cut only at a UTF-8 character boundary.
 */
export function createLineWriter(output: BuildOutput, idleMs = 200): Writable & { flushNow(): void } {
  let pending: Buffer = Buffer.alloc(0);
  let timer: NodeJS.Timeout | undefined;
  const flushPartial = (): void => {
    timer = undefined;
    const cut = utf8Boundary(pending);
    if (cut === 0) return;
    output.write(pending.subarray(0, cut));
    pending = pending.subarray(cut);
  };
  const writer = new Writable({
    write(chunk: Buffer, _enc, done) {
      const data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
      const last = Math.max(data.lastIndexOf(0x0a), data.lastIndexOf(0x0d));
      if (last >= 0) output.write(data.subarray(0, last + 1));
      pending = Buffer.from(data.subarray(last + 1));
      if (timer) clearTimeout(timer);
      if (pending.length > 0) timer = setTimeout(flushPartial, idleMs);
      done();
    },
    final(done) {
      writer.flushNow();
      done();
    },
  }) as Writable & { flushNow(): void };
  writer.flushNow = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.length > 0) output.write(pending);
    pending = Buffer.alloc(0);
  };
  return writer;
}

/** How many leading bytes of `buf` end on a whole UTF-8 character. */
function utf8Boundary(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const byte = buf[buf.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? buf.length - back : buf.length;
  }
  return buf.length;
}
