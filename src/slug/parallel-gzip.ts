import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { promisify } from "node:util";
import { gzip, type ZlibOptions } from "node:zlib";

const gzipAsync = promisify<Buffer, ZlibOptions, Buffer>(gzip);

export interface ParallelGzipOptions {
  /** Uncompressed bytes per gzip member; fixed so the same input gives the same output. */
  readonly blockBytes?: number;
  /**
   * Members in flight at once (zlib runs them on libuv's thread pool). More than the cores, so the
   * producer (the tar rewrite on the main thread) keeps working while every core compresses.
   */
  readonly concurrency?: number;
  readonly level?: number;
}

/**
 * gzip on several cores: the input is cut into fixed-size blocks, each compressed as its own gzip
 * member on the thread pool, and the members are written in order. Concatenated members are one
 * valid gzip stream (RFC 1952; `gzip -t`, `tar -xz` and zlib's gunzip read them). Node's gzip
 * header carries no mtime or name, so equal input gives equal bytes. Memory stays at about
 * concurrency × block size whatever the input's size.
 */
export function createParallelGzip(options: ParallelGzipOptions = {}): Transform {
  const blockBytes = options.blockBytes ?? 1024 * 1024;
  const concurrency = Math.max(1, options.concurrency ?? Math.min(availableParallelism() + 2, 8));
  const zlibOptions: ZlibOptions = { level: options.level ?? 6 };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const inFlight: Promise<Buffer>[] = [];

  const cut = (): Buffer => {
    const all = Buffer.concat(pending, pendingBytes);
    const block = all.subarray(0, blockBytes);
    const rest = all.subarray(blockBytes);
    pending = rest.length ? [rest] : [];
    pendingBytes = rest.length;
    return block;
  };

  // Emits finished members in order while more than `keep` are in flight.
  async function drain(stream: Transform, keep: number): Promise<void> {
    while (inFlight.length > keep) {
      stream.push(await inFlight.shift()!);
    }
  }

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      const work = async (): Promise<void> => {
        while (pendingBytes >= blockBytes) {
          const compressing = gzipAsync(cut(), zlibOptions);
          compressing.catch(() => undefined);
          inFlight.push(compressing);
          await drain(this, concurrency - 1);
        }
      };
      work().then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      const work = async (): Promise<void> => {
        if (pendingBytes > 0 || inFlight.length === 0) {
          const last = gzipAsync(cut(), zlibOptions);
          last.catch(() => undefined);
          inFlight.push(last);
        }
        await drain(this, 0);
      };
      work().then(() => cb(), cb);
    },
  });
}
