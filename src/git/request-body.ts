import type http from "node:http";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type zlib from "node:zlib";

/** After the answer to a request whose body we stopped reading: how long to wait for the client to take it and close. */
const LINGER_MS = 3000;
/** ...and how much of the body still arriving meanwhile is read (raw, never decoded) and dropped; past that it is left unread. */
const LINGER_BYTES = 1024 * 1024;

export interface RequestBodyOptions {
  /** The Content-Encoding's decoder, if any: inflates between the request and the sink. */
  readonly decoder: zlib.Gunzip | zlib.Inflate | undefined;
  /** Where the (decoded) body goes; it must never fail. */
  readonly sink: Writable;
  /** The client sent nothing for this long while we were ready to read: the body is stopped and `onIdle` called. */
  readonly idleMs: number;
  readonly onIdle: () => void;
  /** The body could not be decoded (a corrupt gzip stream); it is stopped first. */
  readonly onError: (err: unknown) => void;
}

export interface RequestBody {
  /**
   * Stops decoding and reading the body. The response is left alone: whatever is being sent is
   * sent. If the body had not fully arrived, the connection is closed once the response is done,
   * instead of reading (and inflating) the rest of it.
   */
  stop(): void;
  readonly stopped: boolean;
}

/**
 * Streams a request's body, decoded, into `sink`, with backpressure. Wired by hand rather than
 * with one pipeline(): pipeline destroys every stream on an error or an early stop, and a
 * destroyed request destroys its socket, and the answer going out on it with it.
 */
export function streamRequestBody(req: http.IncomingMessage, res: http.ServerResponse, options: RequestBodyOptions): RequestBody {
  const { decoder, sink } = options;
  const first: Writable = decoder ?? sink;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const idle = (): void => {
    // Paused by backpressure (git reads slowly) or holding data we have not taken: the silence is ours.
    if (req.isPaused() || req.readableLength > 0) return arm();
    stop();
    options.onIdle();
  };
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(idle, options.idleMs);
  };
  const disarm = (): void => {
    clearTimeout(timer);
    req.off("data", arm);
  };

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    disarm();
    req.unpipe(first);
    // No more inflating, of new bytes or of those already handed to the decoder.
    decoder?.destroy();
    if (req.complete) {
      req.resume(); // all of it is here already: drop what is buffered; the connection stays usable
      return;
    }
    req.pause(); // the socket is read no further; TCP holds the client back
    if (res.writableFinished) closeConnection(req);
    else if (!res.destroyed) res.once("finish", () => closeConnection(req));
  };

  req.on("data", arm);
  req.once("end", disarm);
  req.once("close", disarm);
  arm();
  if (decoder) {
    pipeline(decoder, sink).catch((err: unknown) => {
      if (stopped) return; // we destroyed the decoder
      stop();
      options.onError(err);
    });
  } else {
    // Piped without pipeline(): the sink's errors are ours to take, or they would end the process.
    sink.on("error", (err) => {
      if (stopped) return;
      stop();
      options.onError(err);
    });
  }
  req.pipe(first);

  return {
    stop,
    get stopped() {
      return stopped;
    },
  };
}

/**
 * Ends the connection after a complete answer to a request whose body was not read to its end.
 * Closing a socket with unread data makes the kernel send a reset, and a client still sending
 * (git's curl, mid-pack) fails on that reset without reading the answer waiting for it. So we
 * half-close (FIN after the answer), read and drop what still arrives up to a megabyte (a body
 * just over the limit ends cleanly), then read no more: the client, held back by TCP, has time to
 * read the answer. The connection is closed when the client closes it, or after a few seconds.
 */
function closeConnection(req: http.IncomingMessage): void {
  const socket = req.socket;
  if (socket.destroyed) return;
  socket.end();
  let discarded = 0;
  const drop = (chunk: Buffer): void => {
    discarded += chunk.length;
    if (discarded <= LINGER_BYTES) return;
    req.off("data", drop);
    req.pause();
  };
  req.on("data", drop);
  req.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}
