import { expect, it, vi } from "vitest";
import { formatCommandList, formatUsage, helpWidth, wrap } from "../../../src/cli/help.js";
import { API_COMMANDS } from "../../../src/cli/api-commands.js";
import { main } from "../../../src/cli/main.js";

/** The width the CLI writes help for here: 80 off a terminal. */
const LIMIT = helpWidth(process.stdout.isTTY ? process.stdout.columns : undefined);

/** What `slugforge ARGS` prints on stdout, and its exit code. */
async function printed(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((t: string) => void lines.push(t));
  try {
    return { code: await main(args, {}), text: lines.join("\n") };
  } finally {
    spy.mockRestore();
  }
}

/** Where a line's summary text starts: after the usage's gap, or its indent on a continuation line; null for a usage alone. */
const summaryStart = (line: string): number | null => {
  if (line.charAt(2) === " ") return line.search(/\S/);
  const gap = / {2,}(?=\S)/.exec(line.slice(2));
  return gap ? 2 + gap.index + gap[0].length : null;
};

it("starts every summary in one column, a long usage on a line of its own", () => {
  const text = formatCommandList(
    [
      { title: "Server:", entries: [{ usage: "serve", summary: "start the server" }] },
      {
        title: "Apps:",
        entries: [
          { usage: "apps [--json]", summary: "list apps" },
          { usage: "apps:destroy NAME --confirm NAME [--json]", summary: "delete an app" },
        ],
      },
    ],
    80,
  );
  expect(text).toBe(
    [
      "Server:",
      "  serve          start the server",
      "",
      "Apps:",
      "  apps [--json]  list apps",
      "  apps:destroy NAME --confirm NAME [--json]",
      "                 delete an app",
    ].join("\n"),
  );
});

it("lists every API command aligned and within the width, whatever the lengths", () => {
  for (const width of [60, 80, 100]) {
    const text = formatCommandList([{ title: "Commands:", entries: Object.values(API_COMMANDS) }], width);
    const lines = text.split("\n").slice(1);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(width);
    const starts = new Set(lines.map(summaryStart).filter((n) => n !== null));
    expect([...starts]).toHaveLength(1);
    for (const name of Object.keys(API_COMMANDS)) expect(text).toContain(`  ${name}`);
  }
});

it("wraps at spaces, keeps paragraphs, and never cuts a word longer than the line", () => {
  expect(wrap("one two three four", 9)).toEqual(["one two", "three", "four"]);
  expect(wrap("a\n\nb", 10)).toEqual(["a", "", "b"]);
  expect(wrap("see https://example.com/a/very/long/path now", 10)).toEqual(["see", "https://example.com/a/very/long/path", "now"]);
});

it("wraps a long usage under itself", () => {
  expect(formatUsage("tokens:create --app NAME --scope deploy|read [--json]", 50)).toBe(
    ["Usage: slugforge tokens:create --app NAME --scope", "                 deploy|read [--json]"].join("\n"),
  );
  expect([helpWidth(undefined), helpWidth(40), helpWidth(120), helpWidth(90)]).toEqual([80, 60, 100, 90]);
});

it("slugforge --help: every command's summary in one column, nothing past the width (80 off a terminal)", async () => {
  const { code, text } = await printed(["--help"]);
  expect(code).toBe(0);
  const commands = text.split("\n").filter((l) => l.startsWith("  "));
  expect(commands.join("\n")).toContain("  buildpack test <buildpack> <sample>...\n");
  expect(new Set(commands.map(summaryStart).filter((n) => n !== null)).size).toBe(1);
  for (const line of text.split("\n")) expect(line.length, line).toBeLessThanOrEqual(LIMIT);
});

it("<command> --help: the usage, then the summary as a sentence, wrapped", async () => {
  const { code, text } = await printed(["apps:destroy", "--help"]);
  expect(code).toBe(0);
  expect(text).toMatch(/^Usage: slugforge apps:destroy NAME --confirm NAME \[--json\]\n\nDelete an app: /);
  for (const line of text.split("\n")) expect(line.length, line).toBeLessThanOrEqual(LIMIT);
});
