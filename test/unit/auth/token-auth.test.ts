import { describe, expect, it } from "vitest";
import { checkAuthorization, checkBasicAuth } from "../../../src/auth/token-auth.js";

const header = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

describe("checkBasicAuth", () => {
  it("accepts any user with the token as password", () => {
    expect(checkBasicAuth(header("git", "s3cret-token"), "s3cret-token")).toBe(true);
    expect(checkBasicAuth(header("", "s3cret-token"), "s3cret-token")).toBe(true);
    expect(checkBasicAuth(header("x", "pa:ss"), "pa:ss")).toBe(true);
  });
  it("refuses missing, malformed, wrong, prefix and Bearer credentials", () => {
    for (const h of [undefined, "", "Basic", "Basic !!!", header("git", "s3cret"), header("git", "s3cret-token-x"), "Bearer s3cret-token", Buffer.from("s3cret-token").toString("base64")]) {
      expect(checkBasicAuth(h, "s3cret-token")).toBe(false);
    }
    expect(checkBasicAuth(header("git", ""), "")).toBe(false);
  });
});

describe("checkAuthorization (API)", () => {
  it("takes the token as Bearer or as the Basic password, nothing else", () => {
    expect(checkAuthorization("Bearer s3cret-token", "s3cret-token")).toBe(true);
    expect(checkAuthorization(header("git", "s3cret-token"), "s3cret-token")).toBe(true);
    for (const h of [undefined, "", "Bearer", "Bearer wrong", "Token s3cret-token", header("git", "wrong")]) {
      expect(checkAuthorization(h, "s3cret-token")).toBe(false);
    }
  });
});
