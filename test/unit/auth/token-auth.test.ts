import { describe, expect, it } from "vitest";
import { presentedToken, sameSecret } from "../../../src/auth/token-auth.js";

const header = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

describe("presentedToken (git: Basic only)", () => {
  it("takes the password of any user", () => {
    expect(presentedToken(header("git", "s3cret-token"), "basic")).toBe("s3cret-token");
    expect(presentedToken(header("", "s3cret-token"), "basic")).toBe("s3cret-token");
    expect(presentedToken(header("x", "pa:ss"), "basic")).toBe("pa:ss");
  });
  it("finds nothing in missing, malformed, empty or Bearer credentials", () => {
    for (const h of [undefined, "", "Basic", "Basic !!!", header("git", ""), "Bearer s3cret-token", Buffer.from("s3cret-token").toString("base64")]) {
      expect(presentedToken(h, "basic")).toBeUndefined();
    }
  });
});

describe("presentedToken (API: Bearer or Basic)", () => {
  it("takes a Bearer token or the Basic password, nothing else", () => {
    expect(presentedToken("Bearer s3cret-token", "basic-or-bearer")).toBe("s3cret-token");
    expect(presentedToken(header("git", "s3cret-token"), "basic-or-bearer")).toBe("s3cret-token");
    for (const h of [undefined, "", "Bearer", "Token s3cret-token", "Bearer a b"]) {
      expect(presentedToken(h, "basic-or-bearer")).toBeUndefined();
    }
  });
});

describe("sameSecret", () => {
  it("is true for equal strings only, prefixes and longer guesses included", () => {
    expect(sameSecret("s3cret-token", "s3cret-token")).toBe(true);
    for (const guess of ["s3cret", "s3cret-token-x", "", "S3CRET-TOKEN"]) expect(sameSecret(guess, "s3cret-token")).toBe(false);
  });
});
