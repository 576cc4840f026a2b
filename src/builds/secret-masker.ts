import type { BuildOutput } from "./types.js";

/** What a secret's bytes are replaced with, in the pusher's terminal and the stored build output. */
export const MASK = "****";
/** Shorter values (`1`, `true`, `web`) are too common in ordinary output to be told apart from it. */
export const MIN_SECRET_CHARS = 6;

/**
 * The config var values worth masking: at least MIN_SECRET_CHARS characters, and not only
 * whitespace (a value of spaces would mask the output's own indentation and reveal nothing).
 */
export function secretsOf(values: Iterable<string>): string[] {
  const seen = new Set<string>();
  for (const v of values) if ([...v].length >= MIN_SECRET_CHARS && v.trim() !== "") seen.add(v);
  return [...seen];
}

/** A byte stream in, the same stream with every secret replaced out. */
export interface SecretMasker {
  /** Masks a chunk; returns what can be passed on now (a tail that may start a secret is held back). */
  push(chunk: Buffer): Buffer;
  /** The held-back tail, masked: call when the stream ends. */
  end(): Buffer;
}

/**
 * Streaming masker, on bytes: chunks may cut a secret, or a UTF-8 character, anywhere. Every
 * occurrence of every secret is covered, overlapping ones included; a run of bytes covered by
 * occurrences that overlap becomes one MASK, so no part of any secret shows (the longest secret
 * at a position always wins, since a shorter one inside it is covered too).
 *
 * Only a tail that is the start of some secret is held back (fewer bytes than the longest secret),
 * so output still flows line by line. Whatever the chunking, the result is the same bytes as
 * masking the whole stream at once (`maskAll`), which is what the tests check.
 */
export function createSecretMasker(secrets: readonly string[]): SecretMasker {
  const needles = [...new Set(secrets)].filter((s) => s.length > 0).map((s) => Buffer.from(s, "utf8"));
  const longest = needles.reduce((n, s) => Math.max(n, s.length), 0);
  const mask = Buffer.from(MASK);
  let held = Buffer.alloc(0);
  // How many leading bytes of `held` belong to a masked run whose MASK was already passed on.
  let heldCovered = 0;

  /** Whether data[at..] is a proper prefix of some secret (the secret may go on in the next chunk). */
  const startsSecret = (data: Buffer, at: number): boolean => {
    const rest = data.length - at;
    return needles.some((s) => s.length > rest && data.compare(s, 0, rest, at) === 0);
  };

  const scan = (data: Buffer, final: boolean): Buffer => {
    // Bytes from `cut` on are undecided: they may be the start of a secret the next chunk completes.
    let cut = data.length;
    if (!final) {
      for (let at = Math.max(0, data.length - longest + 1); at < data.length; at++) {
        if (startsSecret(data, at)) {
          cut = at;
          break;
        }
      }
    }
    // Every occurrence starting before the cut lies wholly inside `data` (one that went on past
    // the end would have made its start the cut). Later ones are found again with more bytes.
    const spans: [number, number][] = heldCovered > 0 ? [[0, heldCovered]] : [];
    for (const s of needles) {
      for (let at = data.indexOf(s); at !== -1 && at < cut; at = data.indexOf(s, at + 1)) spans.push([at, at + s.length]);
    }
    spans.sort((a, b) => a[0] - b[0]);
    const out: Buffer[] = [];
    let pos = 0;
    let runEnd = -1;
    for (const [start, end] of spans) {
      if (start < runEnd) {
        runEnd = Math.max(runEnd, end); // overlaps the open run: the same MASK covers it
        continue;
      }
      if (runEnd >= 0) pos = runEnd;
      out.push(data.subarray(pos, start));
      // A run that carries on from the last chunk already had its MASK passed on.
      if (!(start === 0 && heldCovered > 0)) out.push(mask);
      runEnd = end;
    }
    if (runEnd >= 0) pos = runEnd;
    if (pos < cut) out.push(data.subarray(pos, cut));
    heldCovered = Math.max(0, pos - cut);
    held = Buffer.from(data.subarray(cut));
    return Buffer.concat(out);
  };

  return {
    push(chunk) {
      if (needles.length === 0) return chunk;
      return scan(held.length > 0 ? Buffer.concat([held, chunk]) : chunk, false);
    },
    end() {
      if (held.length === 0) return Buffer.alloc(0);
      const rest = scan(held, true);
      held = Buffer.alloc(0);
      heldCovered = 0;
      return rest;
    },
  };
}

/** Masks a whole text at once (an error message that reaches the pusher outside the output stream). */
export function maskAll(text: string | Buffer, secrets: readonly string[]): Buffer {
  const masker = createSecretMasker(secrets);
  const head = masker.push(Buffer.from(text));
  return Buffer.concat([head, masker.end()]);
}

/** A BuildOutput that masks what is written to it; secrets are given once known (when the build reads its config vars). */
export interface MaskedOutput extends BuildOutput {
  /** From now on these are masked. Output written before it was not (it held no config values). */
  mask(secrets: readonly string[]): void;
  /** Masks a message the same way (for a build's error message, also kept and shown outside this stream). */
  maskText(text: string): string;
  /** Passes on the held-back tail; call when the build's output ends. */
  end(): void;
}

export function createMaskedOutput(output: BuildOutput): MaskedOutput {
  let secrets: readonly string[] = [];
  let masker = createSecretMasker(secrets);
  const pass = (bytes: Buffer): void => {
    if (bytes.length > 0) output.write(bytes);
  };
  return {
    write(chunk) {
      pass(masker.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk));
    },
    mask(next) {
      pass(masker.end());
      secrets = next;
      masker = createSecretMasker(secrets);
    },
    maskText: (text) => (secrets.length === 0 ? text : maskAll(text, secrets).toString("utf8")),
    end() {
      pass(masker.end());
    },
  };
}
