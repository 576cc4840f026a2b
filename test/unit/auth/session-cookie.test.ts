import { describe, expect, it } from "vitest";
import { clearedSessionCookie, SESSION_COOKIE, sessionCookie, sessionIdOf } from "../../../src/auth/session-cookie.js";

const ID = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123_-x";

describe("the session cookie", () => {
  it("is HttpOnly, SameSite=Strict, Path=/, lives as long as the session, and is Secure over https only", () => {
    expect(ID).toHaveLength(43);
    expect(sessionCookie(ID, 43_199_001, { secure: false })).toBe(`${SESSION_COOKIE}=${ID}; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict`);
    expect(sessionCookie(ID, 1000, { secure: true })).toBe(`${SESSION_COOKIE}=${ID}; Path=/; Max-Age=1; HttpOnly; SameSite=Strict; Secure`);
    expect(clearedSessionCookie({ secure: false })).toBe(`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict`);
  });

  it("is read from a Cookie header among others; anything not shaped like a session id is no session", () => {
    expect(sessionIdOf(`a=1; ${SESSION_COOKIE}=${ID}; b=2`)).toBe(ID);
    expect(sessionIdOf(`${SESSION_COOKIE}=${ID}`)).toBe(ID);
    for (const header of [undefined, "", `${SESSION_COOKIE}=`, `${SESSION_COOKIE}=short`, `${SESSION_COOKIE}=${ID}x`, `x${SESSION_COOKIE}=${ID}`, `${SESSION_COOKIE}=${ID.slice(1)};`]) {
      expect(sessionIdOf(header), header).toBeUndefined();
    }
  });
});
