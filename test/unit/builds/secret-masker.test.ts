import { describe, expect, it } from "vitest";
import { createMaskedOutput, createSecretMasker, maskAll, secretsOf } from "../../../src/builds/secret-masker.js";

/** Runs `text` through a fresh masker cut at the given byte offsets; returns each push's output and the end's. */
function stream(text: string | Buffer, secrets: readonly string[], cuts: readonly number[]): { parts: Buffer[]; all: Buffer } {
  const bytes = Buffer.from(text);
  const masker = createSecretMasker(secrets);
  const parts: Buffer[] = [];
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    parts.push(masker.push(bytes.subarray(from, at)));
    from = at;
  }
  parts.push(masker.end());
  return { parts, all: Buffer.concat(parts) };
}

/** Every way to cut `n` bytes into 2 chunks, and into 3. */
function* cutsOf(n: number): Generator<number[]> {
  for (let a = 0; a <= n; a++) {
    yield [a];
    for (let b = a; b <= n; b++) yield [a, b];
  }
}

/** The whole text through the masker in every 2- and 3-chunk cut gives `expected`. */
function expectEveryCut(text: string | Buffer, secrets: readonly string[], expected: string | Buffer): void {
  const want = Buffer.from(expected);
  for (const cuts of cutsOf(Buffer.byteLength(text))) {
    const got = stream(text, secrets, cuts).all;
    if (!got.equals(want)) expect({ cuts, got: got.toString() }).toEqual({ cuts, got: want.toString() });
  }
}

/**
 * A reference written the obvious way, independent of the masker's: mark every byte any
 * occurrence covers, then each run of occurrences that overlap becomes one mask.
 */
function reference(text: Buffer, secrets: readonly string[]): Buffer {
  const spans: [number, number][] = [];
  for (const s of new Set(secrets)) {
    const b = Buffer.from(s);
    for (let i = 0; i + b.length <= text.length; i++) if (text.subarray(i, i + b.length).equals(b)) spans.push([i, i + b.length]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  const out: Buffer[] = [];
  let pos = 0;
  let end = -1;
  for (const [s, e] of spans) {
    if (s < end) {
      end = Math.max(end, e);
      continue;
    }
    if (end >= 0) pos = end;
    out.push(text.subarray(pos, s), Buffer.from("****"));
    end = e;
  }
  out.push(text.subarray(end >= 0 ? end : pos));
  return Buffer.concat(out);
}

describe("secret masker", () => {
  it("masks a secret split at every position, across 2 and 3 chunks", () => {
    expectEveryCut("token=hunter2-secret!\n", ["hunter2-secret"], "token=****!\n");
    expectEveryCut("hunter2-secret", ["hunter2-secret"], "****");
  });

  it("masks every occurrence, back to back ones each with its own mask", () => {
    expectEveryCut("a s3cr3t b s3cr3ts3cr3t c\n", ["s3cr3t"], "a **** b ******** c\n");
  });

  it("longest first: a secret that is a prefix (or a part) of another never leaves the longer one's tail", () => {
    const secrets = ["secret", "secret-and-more", "and-more"];
    expectEveryCut("1 secret-and-more 2 secret 3 secret-and 4\n", secrets, "1 **** 2 **** 3 ****-and 4\n");
    expectEveryCut("x secret-and-more y", ["secret-and-more", "secret"], "x **** y");
  });

  it("overlapping secrets: one mask covers both, no part of either shows", () => {
    expectEveryCut("<abcdefghi>", ["abcdef", "defghi"], "<****>");
    expectEveryCut("<abcdefghi>", ["defghi", "abcdef"], "<****>");
    // A chain of overlaps longer than any one secret.
    expectEveryCut("[aaaaaaaaaaaaaaaaaaaa]", ["aaaaaa"], "[****]");
    expectEveryCut("xyzxyzxyz!", ["xyzxyz"], "****!");
  });

  it("works on bytes: multi-byte characters cut anywhere, in the secret and around it", () => {
    const secret = "pässwörd✓€";
    expectEveryCut(`ü ${secret} ✓\n`, [secret], "ü **** ✓\n");
    // A secret of 6 characters but more bytes, next to characters sharing its lead bytes.
    expectEveryCut("€€€€€€€ ✓✓✓✓✓ ✓✓✓✓✓✓", ["€€€€€€", "✓✓✓✓✓✓"], "**** ✓✓✓✓✓ ****");
  });

  it("holds back only a tail that could start a secret, and lets the rest through at once", () => {
    const masker = createSecretMasker(["hunter2-secret"]);
    expect(masker.push(Buffer.from("line one\n")).toString()).toBe("line one\n");
    expect(masker.push(Buffer.from("pass is hunt")).toString()).toBe("pass is ");
    expect(masker.push(Buffer.from("er")).toString()).toBe("");
    expect(masker.push(Buffer.from("2-secret and more\n")).toString()).toBe("**** and more\n");
    expect(masker.push(Buffer.from("ends with hun")).toString()).toBe("ends with ");
    expect(masker.end().toString()).toBe("hun");
    expect(masker.end().toString()).toBe("");
  });

  it("a run of overlapping occurrences cut by chunks gets one mask, passed on as soon as it starts", () => {
    const masker = createSecretMasker(["aaaaaa"]);
    expect(masker.push(Buffer.from("xaaaaaaa")).toString()).toBe("x****");
    expect(masker.push(Buffer.from("aaaa")).toString()).toBe("");
    expect(masker.push(Buffer.from("ab")).toString()).toBe("b");
    expect(masker.end().toString()).toBe("");
  });

  it("matches an independent reference on random texts, secrets and chunkings", () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = ["a", "b", "é", "✓"];
    const word = (len: number): string => Array.from({ length: len }, () => alphabet[rand(alphabet.length)]).join("");
    for (let round = 0; round < 400; round++) {
      const secrets = Array.from({ length: 1 + rand(3) }, () => word(1 + rand(5)));
      const text = Buffer.from(word(rand(40)));
      const want = reference(text, secrets);
      const cuts = Array.from({ length: rand(6) }, () => rand(text.length + 1)).sort((x, y) => x - y);
      const { all } = stream(text, secrets, cuts);
      expect({ text: text.toString(), secrets, cuts, got: all.toString() }).toEqual({ text: text.toString(), secrets, cuts, got: want.toString() });
      expect(maskAll(text, secrets).equals(want)).toBe(true);
      // Once a byte no secret holds has passed, nothing is held back any more.
      const masker = createSecretMasker(secrets);
      const flowing = Buffer.concat([masker.push(text), masker.push(Buffer.from("\n"))]);
      expect(flowing.equals(Buffer.concat([want, Buffer.from("\n")]))).toBe(true);
      expect(masker.end().length).toBe(0);
    }
  });

  it("passes chunks through untouched when there is nothing to mask", () => {
    const masker = createSecretMasker([]);
    const chunk = Buffer.from([0xe2, 0x9c]); // half a character stays as it came
    expect(masker.push(chunk)).toBe(chunk);
    expect(masker.end().length).toBe(0);
  });

  it("masks config var values of 6 characters or more, not shorter ones nor whitespace", () => {
    expect(secretsOf(["1", "true", "short", "sixsix", "sixsix", "      ", "\t\n\t\n\t\n", "ééééé", "éééééé"])).toEqual(["sixsix", "éééééé"]);
  });
});

describe("masked build output", () => {
  it("passes output on unmasked until the secrets are known, then masks it and its error messages", () => {
    const got: Buffer[] = [];
    const out = createMaskedOutput({ write: (c) => got.push(Buffer.from(c)) });
    out.write("-----> Build of app\n");
    out.mask(["hunter2-secret"]);
    out.write("using hunter2-sec");
    out.write(Buffer.from("ret\nand hunter"));
    expect(Buffer.concat(got).toString()).toBe("-----> Build of app\nusing ****\nand ");
    out.end();
    expect(Buffer.concat(got).toString()).toBe("-----> Build of app\nusing ****\nand hunter");
    expect(out.maskText("could not fetch https://hunter2-secret@example.com")).toBe("could not fetch https://****@example.com");
  });
});
