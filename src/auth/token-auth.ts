import { createHash, timingSafeEqual } from "node:crypto";

/** Where a token may come from: git sends HTTP Basic only; the API also takes a Bearer token. */
export type CredentialSchemes = "basic" | "basic-or-bearer";

/**
 * The token a request presents: the password of HTTP Basic (any user name), or a Bearer token
 * where `schemes` allows it. Undefined when there is none or the header is malformed.
 */
export function presentedToken(header: string | undefined, schemes: CredentialSchemes): string | undefined {
  if (!header) return undefined;
  if (schemes === "basic-or-bearer") {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (bearer) return bearer[1]!;
  }
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  const password = decoded.slice(colon + 1);
  return password.length > 0 ? password : undefined;
}

/** Both sides are hashed first so the comparison takes the same time whatever the length of the guess. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}
