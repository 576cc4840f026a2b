import { describe, expect, it } from "vitest";
import { DEFAULT_DELIVERY_TIMEOUT_MS, DEFAULT_RETRY_DELAYS_MS, nextTryAt } from "../../../src/webhooks/index.js";

describe("webhook retry schedule", () => {
  it("is 10 s, 30 s, 1.5 min, 4 min, 10 min: six tries over more than ten minutes, each wait at least twice the last", () => {
    expect(DEFAULT_RETRY_DELAYS_MS).toEqual([10_000, 30_000, 90_000, 240_000, 600_000]);
    const tries = DEFAULT_RETRY_DELAYS_MS.length + 1;
    expect(tries).toBeGreaterThanOrEqual(5);
    const lastTryAfterMs = DEFAULT_RETRY_DELAYS_MS.reduce((a, b) => a + b, 0);
    expect(lastTryAfterMs).toBeGreaterThanOrEqual(10 * 60_000);
    expect(lastTryAfterMs).toBeLessThanOrEqual(20 * 60_000);
    for (let i = 1; i < DEFAULT_RETRY_DELAYS_MS.length; i++) expect(DEFAULT_RETRY_DELAYS_MS[i]!).toBeGreaterThanOrEqual(2 * DEFAULT_RETRY_DELAYS_MS[i - 1]!);
    expect(DEFAULT_DELIVERY_TIMEOUT_MS).toBe(10_000);
  });

  it("gives each failed attempt's next try from when it failed, and none after the last", () => {
    const t = 1_000_000;
    expect([1, 2, 3, 4, 5].map((attempt) => nextTryAt(attempt, t))).toEqual([t + 10_000, t + 30_000, t + 90_000, t + 240_000, t + 600_000]);
    expect(nextTryAt(6, t)).toBeUndefined();
  });

  it("takes another schedule (tests run it in milliseconds)", () => {
    expect(nextTryAt(1, 0, [5, 20])).toBe(5);
    expect(nextTryAt(2, 100, [5, 20])).toBe(120);
    expect(nextTryAt(3, 100, [5, 20])).toBeUndefined();
    expect(nextTryAt(1, 0, [])).toBeUndefined();
  });
});
