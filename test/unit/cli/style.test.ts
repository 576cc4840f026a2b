import { expect, it } from "vitest";
import { colorEnabled, createStyle, paintStatus, PLAIN } from "../../../src/cli/style.js";

const tty = { isTTY: true };
const pipe = { isTTY: false };

it("colours only a terminal, never with NO_COLOR (any value), TERM=dumb or --json", () => {
  expect(colorEnabled(tty, {})).toBe(true);
  expect(colorEnabled(tty, { TERM: "xterm-256color" })).toBe(true);
  expect(colorEnabled(pipe, {})).toBe(false);
  expect(colorEnabled({}, {})).toBe(false);
  for (const value of ["1", "true", "0", "false", ""]) expect([value, colorEnabled(tty, { NO_COLOR: value })]).toEqual([value, false]);
  expect(colorEnabled(tty, { TERM: "dumb" })).toBe(false);
  expect(colorEnabled(tty, {}, true)).toBe(false);
});

it("adds ANSI codes only when on, and none around empty text", () => {
  const on = createStyle(true);
  expect(on.bold("Release")).toBe("\x1b[1mRelease\x1b[22m");
  expect(on.red("failed")).toBe("\x1b[31mfailed\x1b[39m");
  expect(on.green("")).toBe("");
  expect(createStyle(false)).toBe(PLAIN);
  for (const paint of [PLAIN.bold, PLAIN.dim, PLAIN.red, PLAIN.green, PLAIN.yellow, PLAIN.cyan]) expect(paint("text")).toBe("text");
});

it("paints build statuses: succeeded green, failed red, running yellow, unknown words as they are", () => {
  const on = createStyle(true);
  expect(paintStatus("succeeded", on)).toBe(on.green("succeeded"));
  expect(paintStatus("failed", on)).toBe(on.red("failed"));
  expect(paintStatus("building", on)).toBe(on.yellow("building"));
  expect(paintStatus("cancelled", on)).toBe(on.dim("cancelled"));
  expect(paintStatus("mystery", on)).toBe("mystery");
  expect(paintStatus("failed", PLAIN)).toBe("failed");
});
