import { createHash, timingSafeEqual } from "node:crypto";

/**
 * HTTP Basic with any user name and the API token as the password. Both sides are hashed first so
 * the comparison takes the same time whatever the length of the guess.
 */
export function checkBasicAuth(header: string | undefined, token: string): boolean {
  if (!header || token.length === 0) return false;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return false;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return false;
  return sameSecret(decoded.slice(colon + 1), token);
}

export function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/** The API takes the token as a Bearer token, or as the Basic password (as git does). */
export function checkAuthorization(header: string | undefined, token: string): boolean {
  if (!header) return false;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return sameSecret(bearer[1]!, token);
  return checkBasicAuth(header, token);
}
