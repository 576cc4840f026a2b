import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The headers every delivery carries (names as sent). */
export const DELIVERY_HEADER = "X-Slugforge-Delivery";
export const EVENT_HEADER = "X-Slugforge-Event";
export const SIGNATURE_HEADER = "X-Slugforge-Signature";

/** `sha256=<hex HMAC-SHA256 of the body with the secret>`, as GitHub signs its webhooks. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** What a receiver does: sign the raw body it got and compare in constant time. */
export function signatureMatches(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(signBody(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A secret made for a webhook added without one: 32 random bytes, with a prefix secret scanners can look for. */
export function mintWebhookSecret(): string {
  return `sfwh_${randomBytes(32).toString("base64url")}`;
}

export const MIN_SECRET_LENGTH = 16;
export const MAX_SECRET_LENGTH = 256;
