import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { TokenScope } from "../store/types.js";

/** Typed as a record so a scope added to TokenScope must be added here too. */
const SCOPES: Readonly<Record<TokenScope, true>> = { deploy: true, read: true };
export const TOKEN_SCOPES = Object.keys(SCOPES) as TokenScope[];

export function isTokenScope(value: unknown): value is TokenScope {
  return typeof value === "string" && Object.hasOwn(SCOPES, value);
}

/**
 * `sfk_<id>_<secret>`: recognisable in a leaked log or config file (the prefix), looked up by the
 * id (12 hex digits, not secret: the activity log shows it), checked by the secret (32 random
 * bytes, base64url). The id has a fixed length, so the `_` base64url may hold cannot confuse the split.
 */
const SCOPED_TOKEN = /^sfk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface MintedToken {
  readonly id: string;
  /** The whole token, shown once to whoever made it and never kept. */
  readonly token: string;
  /** What the store keeps: sha256 of the secret, hex. */
  readonly secretSha256: string;
}

export function mintScopedToken(): MintedToken {
  const id = randomBytes(6).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  return { id, token: `sfk_${id}_${secret}`, secretSha256: hashSecret(secret) };
}

/** The id and secret of a token in our format; undefined for anything else (the admin token included). */
export function parseScopedToken(token: string): { id: string; secret: string } | undefined {
  const m = SCOPED_TOKEN.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

/**
 * A fast hash is enough: the secret is 32 random bytes, so there is nothing to guess that a slow
 * hash would protect (slow hashes are for passwords people choose).
 */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Whether a presented secret matches a kept hash, in constant time. */
export function secretMatches(secret: string, secretSha256: string): boolean {
  const given = Buffer.from(hashSecret(secret), "hex");
  const kept = Buffer.from(secretSha256, "hex");
  return kept.length === given.length && timingSafeEqual(given, kept);
}
