import { describe, expect, it } from "vitest";
import { mintWebhookSecret, signatureMatches, signBody } from "../../../src/webhooks/index.js";

describe("webhook signatures", () => {
  it("is sha256= and the hex HMAC-SHA256 of the body with the secret (RFC 4231 test case 2)", () => {
    expect(signBody("Jefe", "what do ya want for nothing?")).toBe("sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });

  it("matches GitHub's published example, so receivers' existing verifiers work", () => {
    expect(signBody("It's a Secret to Everybody", "Hello, World!")).toBe("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  });

  it("signs bytes: a string and its UTF-8 buffer sign alike", () => {
    const body = '{"app":"café"}';
    expect(signBody("s", body)).toBe(signBody("s", Buffer.from(body, "utf8")));
  });

  it("verifies in constant time and refuses another body, secret, or no header", () => {
    const header = signBody("secret-0123456789", "{}");
    expect(signatureMatches("secret-0123456789", "{}", header)).toBe(true);
    expect(signatureMatches("secret-0123456789", "{ }", header)).toBe(false);
    expect(signatureMatches("another-secret-01", "{}", header)).toBe(false);
    expect(signatureMatches("secret-0123456789", "{}", header.slice(0, -1))).toBe(false);
    expect(signatureMatches("secret-0123456789", "{}", undefined)).toBe(false);
  });

  it("makes secrets of 32 random bytes with a recognisable prefix", () => {
    const a = mintWebhookSecret();
    expect(a).toMatch(/^sfwh_[A-Za-z0-9_-]{43}$/);
    expect(mintWebhookSecret()).not.toBe(a);
  });
});
