import { expect, it } from "vitest";
import { relativeTime, shortSlugId } from "../../../src/cli/format.js";

const NOW = Date.parse("2024-06-15T12:00:00Z");
const before = (seconds: number): string => new Date(NOW - seconds * 1000).toISOString();

it("says how long ago in whole units, from a fixed clock", () => {
  const cases: [number, string][] = [
    [0, "just now"],
    [0.5, "just now"],
    [1, "1 second ago"],
    [59, "59 seconds ago"],
    [60, "1 minute ago"],
    [3 * 60 + 59, "3 minutes ago"],
    [59 * 60 + 59, "59 minutes ago"],
    [3600, "1 hour ago"],
    [23 * 3600, "23 hours ago"],
    [24 * 3600, "1 day ago"],
    [2 * 86_400 + 3600, "2 days ago"],
    [29 * 86_400, "29 days ago"],
  ];
  for (const [seconds, words] of cases) expect([seconds, relativeTime(before(seconds), NOW)]).toEqual([seconds, words]);
});

it("gives the local date from 30 days on, and for times well ahead of the clock", () => {
  const old = new Date(NOW - 30 * 86_400_000);
  const local = `${old.getFullYear()}-${String(old.getMonth() + 1).padStart(2, "0")}-${String(old.getDate()).padStart(2, "0")}`;
  expect(relativeTime(old.toISOString(), NOW)).toBe(local);
  expect(relativeTime(old, NOW)).toBe(local);
  expect(relativeTime(new Date(NOW + 30_000).toISOString(), NOW)).toBe("just now"); // a server clock a little ahead
  expect(relativeTime(new Date(NOW + 3_600_000).toISOString(), NOW)).toMatch(/^\d{4}-\d{2}-\d{2}$/);
});

it("leaves what is not a time as it came, and nothing as nothing", () => {
  expect([relativeTime(null, NOW), relativeTime(undefined, NOW), relativeTime("", NOW), relativeTime("soon", NOW)]).toEqual(["", "", "", "soon"]);
});

it("shortens a slug id as Docker shortens an image id, keeping its algorithm", () => {
  const hex = "ab12cd34ef56".padEnd(64, "7");
  expect(shortSlugId(`sha256:${hex}`)).toBe("sha256:ab12cd34ef56…");
  expect(shortSlugId(hex)).toBe("ab12cd34ef56…");
  expect([shortSlugId(null), shortSlugId(""), shortSlugId("sha256:abc"), shortSlugId("not-a-digest")]).toEqual(["", "", "sha256:abc", "not-a-digest"]);
});
