import { Writable, type WritableOptions } from "node:stream";

/**
 * Splits the Engine API's multiplexed exec stream (frames of an 8-byte header — stream type,
 * three zero bytes, big-endian payload length — then the payload) into stdout and stderr, with
 * backpressure: a frame is acknowledged only once its destination has taken it, so a slow reader
 * of a large stdout (a tar of /app) holds the container's output back instead of letting it pile
 * up in memory. dockerode's own demuxStream writes without waiting.
 */
export class ExecDemuxer extends Writable {
  private header = Buffer.alloc(0);
  private target: Writable | undefined;
  private remaining = 0;

  constructor(
    private readonly stdout: Writable,
    private readonly stderr: Writable,
    options?: WritableOptions,
  ) {
    super(options);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.consume(chunk).then(() => done(), done);
  }

  private async consume(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining === 0) {
        const need = 8 - this.header.length;
        this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + need)]);
        offset += Math.min(need, chunk.length - offset);
        if (this.header.length < 8) return;
        const type = this.header[0];
        this.remaining = this.header.readUInt32BE(4);
        this.header = Buffer.alloc(0);
        if (type !== 1 && type !== 2) throw new Error(`the engine's exec stream is not multiplexed (frame type ${type})`);
        this.target = type === 1 ? this.stdout : this.stderr;
        continue;
      }
      const piece = chunk.subarray(offset, offset + this.remaining);
      offset += piece.length;
      this.remaining -= piece.length;
      await writeWithBackpressure(this.target!, piece);
    }
  }
}

function writeWithBackpressure(out: Writable, data: Buffer): Promise<void> {
  if (out.destroyed || out.writableEnded) return Promise.resolve();
  if (out.write(data)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const settle = (): void => {
      out.off("drain", settle);
      out.off("close", settle);
      resolve();
    };
    out.once("drain", settle);
    out.once("close", settle);
  });
}
