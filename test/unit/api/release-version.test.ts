import { describe, expect, it } from "vitest";
import { parseReleaseVersion } from "../../../src/api/release-version.js";

describe("the release a rollback names", () => {
  it("takes a positive whole number, or a string vN / N of decimal digits", () => {
    expect(parseReleaseVersion(1)).toBe(1);
    expect(parseReleaseVersion(42)).toBe(42);
    expect(parseReleaseVersion("1")).toBe(1);
    expect(parseReleaseVersion("v1")).toBe(1);
    expect(parseReleaseVersion("v120")).toBe(120);
    expect(parseReleaseVersion(Number.MAX_SAFE_INTEGER)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("refuses anything else: other notations, padding, signs, zero, fractions, other types", () => {
    const refused: unknown[] = [
      "0x1", "1e0", "1.0", " 1", "1 ", "v 1", "+1", "-1", "v-1", "01", "v01", "v0", "0", "", "v", "V1", "vv1", "1_000", "١", "１",
      "99999999999999999999", 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, true, null, undefined, [1], { v: 1 },
    ];
    for (const value of refused) expect({ value, got: parseReleaseVersion(value) }).toEqual({ value, got: undefined });
  });
});
