import { createHash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

/**
 * Passes bytes through while hashing them, and fails at the end of the stream (with the error
 * `mismatch` makes of the actual hex digest) unless they hash to `expectedHex`: a reader that sees
 * the end has read verified bytes.
 */
export function verifySha256(expectedHex: string, mismatch: (actualHex: string) => Error): Transform {
  const hash = createHash("sha256");
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      const actual = hash.digest("hex");
      cb(actual === expectedHex ? null : mismatch(actual));
    },
  });
}
