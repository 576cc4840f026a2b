import { expect, it } from "vitest";
import { createStyle } from "../../../src/cli/style.js";
import { formatPairs, formatTable, keyColumn, type Column } from "../../../src/cli/table.js";

// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string): string => text.replace(/\x1b\[[0-9;]*m/g, "");

interface Release {
  version: number;
  description: string;
  status: string;
}
const rows: Release[] = [
  { version: 10, description: "Rollback to v1", status: "failed" },
  { version: 9, description: "Deploy", status: "succeeded" },
];
const columns: Column<Release>[] = [
  { header: "Release", value: (r) => `v${r.version}` },
  { header: "Status", value: (r) => r.status, paint: (t, s) => (t === "failed" ? s.red(t) : s.green(t)) },
  { header: "Description", value: (r) => r.description },
];

it("aligns columns under plain-word headers, two spaces apart, without trailing blanks", () => {
  expect(formatTable(rows, columns)).toBe(
    ["Release  Status     Description", "v10      failed     Rollback to v1", "v9       succeeded  Deploy"].join("\n"),
  );
});

it("keeps the alignment when colour is on: widths are measured on the text, not the codes", () => {
  const coloured = formatTable(rows, columns, createStyle(true));
  expect(coloured).toContain("\x1b[1mRelease\x1b[22m");
  expect(coloured).toContain("\x1b[31mfailed\x1b[39m     Rollback");
  expect(stripAnsi(coloured)).toBe(formatTable(rows, columns));
});

it("keeps a row on one line whatever its values hold, and names key columns in words", () => {
  const table = formatTable([{ lastUsedAt: "a\nb\tc" }], [keyColumn("lastUsedAt")]);
  expect(table).toBe("Last used at\na b c");
});

it("prints Heroku's key-value block with the values aligned", () => {
  const pairs = formatPairs("my-app Config Vars", [
    ["DATABASE_URL", "postgres://db"],
    ["GREETING", "hi"],
  ]);
  expect(pairs).toBe(["=== my-app Config Vars", "DATABASE_URL: postgres://db", "GREETING:     hi"].join("\n"));
  expect(stripAnsi(formatPairs("t", [["A", "1"]], createStyle(true)))).toBe("=== t\nA: 1");
});
