import { PLAIN, type Style } from "./style.js";

/** One column: its header in plain words, its text for a row, and optionally that text's colour. */
export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
  readonly paint?: (text: string, style: Style) => string;
}

/**
 * A column named by a row's key, for listings that need nothing more: `createdAt` is headed
 * `Created at` (`id` and `url` stay `ID` and `URL`) and shows the value as it is.
 */
export function keyColumn<T extends Record<string, unknown>>(key: string): Column<T> {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .replace(/\b(id|url|sha)\b/g, (w) => w.toUpperCase());
  return { header: words.charAt(0).toUpperCase() + words.slice(1), value: (row) => (row[key] === null || row[key] === undefined ? "" : String(row[key])) };
}

/**
 * Aligned columns for people (scripts use --json): headers in bold, two spaces between columns,
 * no trailing blanks. Widths are measured before colour is added, so colour never shifts a column.
 */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[], style: Style = PLAIN): string {
  const cells = rows.map((row) => columns.map((c) => oneLine(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[], paint: (text: string, i: number) => string): string =>
    values
      .map((v, i) => paint(v, i) + " ".repeat(widths[i]! - v.length))
      .join("  ")
      .trimEnd();
  const header = line(
    columns.map((c) => c.header),
    (text) => style.bold(text),
  );
  return [header, ...cells.map((r) => line(r, (text, i) => (columns[i]!.paint ? columns[i]!.paint!(text, style) : text)))].join("\n");
}

/**
 * Heroku's key-value block: a `=== title` line, then `KEY: value` with the values aligned
 * (`heroku config`, `heroku apps:info`).
 */
export function formatPairs(title: string, pairs: readonly (readonly [string, string])[], style: Style = PLAIN): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return [style.bold(`=== ${title}`), ...pairs.map(([k, v]) => `${style.green(`${k}:`)}${" ".repeat(width - k.length - 1)} ${v}`.trimEnd())].join("\n");
}

/** A cell is one line: a newline or tab in a value would break the columns. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, " ");
}
