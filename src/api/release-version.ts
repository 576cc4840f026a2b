/**
 * The release a rollback names: a positive whole number (`3`), or a string of decimal digits with
 * an optional `v` (`"3"`, `"v3"`), written as the listings show it. Anything else (`0x1`, `1e0`,
 * `1.0`, `" 1"`, `v01`) is refused rather than read some way the user did not mean: `Number()`
 * alone takes hex, exponents and spaces. Leading zeros are refused too, so each release has one
 * spelling.
 */
const VERSION_TEXT = /^v?([1-9][0-9]*)$/;

/** What to send, for the BAD_REQUEST answer. */
export const RELEASE_VERSION_HINT = 'name the release to roll back to as {"release": 3} or {"release": "v3"}: a whole number from 1, in decimal digits without leading zeros';

/** The version, or undefined when `value` is not a way of naming one. */
export function parseReleaseVersion(value: unknown): number | undefined {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(VERSION_TEXT.exec(value)?.[1]) : Number.NaN;
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}
