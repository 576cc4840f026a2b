import type { Readable, Writable } from "node:stream";

/**
 * Pipes a child's stdout into `to`. When `to` closes before the child's output has ended (its
 * reader failed or went away), the child's pipe is destroyed too: left paused with unread bytes,
 * it would stay open after the child exits, keep the process alive, and the child's 'close'
 * would never come. The child, writing on, gets EPIPE and ends.
 */
export function pipeChildOutput(from: Readable, to: Writable, options: { end?: boolean } = {}): void {
  from.pipe(to, options);
  to.once("close", () => {
    if (!from.readableEnded) from.destroy();
  });
}

/** What a child writes on stderr, up to about 4 KiB (for an error message): read it when the child is done. */
export function stderrHead(from: Readable): () => string {
  let text = "";
  from.on("data", (b: Buffer) => {
    if (text.length < 4096) text += b.toString("utf8");
  });
  return () => text;
}
