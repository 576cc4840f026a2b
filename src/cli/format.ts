export { formatBytes } from "../util/format-size.js";

const UNITS: readonly (readonly [string, number])[] = [
  ["day", 86_400],
  ["hour", 3_600],
  ["minute", 60],
  ["second", 1],
];
/** Past this, a date says more than "47 days ago". */
const RELATIVE_LIMIT_S = 30 * 86_400;

/**
 * `3 minutes ago`, `2 days ago`, `just now`; from 30 days on (and for times ahead of the clock by
 * more than a minute) the local date, `2024-05-17`. Units are whole: 59 minutes is not yet an hour.
 * Anything that is not a time is returned as it came.
 */
export function relativeTime(time: string | Date | null | undefined, now: number = Date.now()): string {
  if (time === null || time === undefined || time === "") return "";
  const date = time instanceof Date ? time : new Date(time);
  const ms = date.getTime();
  if (Number.isNaN(ms)) return String(time);
  const s = Math.floor((now - ms) / 1000);
  if (s >= RELATIVE_LIMIT_S || s < -60) return localDate(date);
  if (s < 1) return "just now";
  for (const [unit, size] of UNITS) {
    const n = Math.floor(s / size);
    if (n >= 1) return `${n} ${unit}${n === 1 ? "" : "s"} ago`;
  }
  return "just now";
}

function localDate(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/**
 * `sha256:ab12cd34ef56…`: 12 hex digits, as Docker shortens image ids (and `stack ls` shows them).
 * --json has the full id, which `slugs:download` takes.
 */
export function shortSlugId(id: unknown): string {
  if (typeof id !== "string" || id === "") return "";
  const m = /^(sha256:)?([0-9a-f]+)$/.exec(id);
  if (!m || m[2]!.length <= 12) return id;
  return `${m[1] ?? ""}${m[2]!.slice(0, 12)}…`;
}
