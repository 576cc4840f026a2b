import { SlugforgeError } from "../errors.js";

/** What `git push -o <option>` may ask of a build. */
export const PUSH_OPTIONS = {
  rebuild: "build even when an earlier build had the same inputs",
  "clear-cache": "build without the kept build cache (the new one is kept)",
  "dry-run": "build and report, make no release, leave the branch where it was",
} as const;

export interface PushOptions {
  readonly rebuild: boolean;
  readonly clearCache: boolean;
  readonly dryRun: boolean;
}

/** The options a push gave, or PUSH_OPTION_INVALID naming the ones slugforge knows. */
export function parsePushOptions(given: readonly string[]): PushOptions {
  const known = Object.keys(PUSH_OPTIONS);
  const unknown = given.filter((o) => !known.includes(o));
  if (unknown.length > 0) {
    const list = Object.entries(PUSH_OPTIONS).map(([name, what]) => `-o ${name} (${what})`).join(", ");
    throw new SlugforgeError("PUSH_OPTION_INVALID", `unknown push option${unknown.length === 1 ? "" : "s"} ${unknown.map((o) => `"${o}"`).join(", ")}; slugforge knows ${list}.`, {
      data: { unknown, known },
    });
  }
  return { rebuild: given.includes("rebuild"), clearCache: given.includes("clear-cache"), dryRun: given.includes("dry-run") };
}
