import { describe, expect, it } from "vitest";
import { parseSlugignore } from "../../../src/slug/slugignore.js";

describe("parseSlugignore (Heroku .slugignore: .gitignore patterns, no negation)", () => {
  const ignore = parseSlugignore(
    ["# comment", "", "*.psd", "docs/", "/tests", "spec/fixtures", "**/tmp/**", "log?.txt", "[ab]c.bin", "!keep.psd", "trailing   "].join("\n"),
  );
  const cases: [string, boolean, boolean][] = [
    ["design.psd", false, true],
    ["assets/img/logo.psd", false, true],
    ["keep.psd", false, true], // negation is not supported
    ["docs", true, true],
    ["docs/guide.md", false, true],
    ["src/docs/x.md", false, true], // unanchored directory name matches at any depth
    ["docs", false, false], // a file named docs is not a directory
    ["tests/test_app.py", false, true],
    ["src/tests/kept.py", false, false], // anchored with a leading slash
    ["spec/fixtures/a.json", false, true], // a middle slash anchors too
    ["lib/spec/fixtures/a.json", false, false],
    ["a/tmp/b/c", false, true],
    ["tmp/x", false, true],
    ["log1.txt", false, true],
    ["log12.txt", false, false],
    ["ac.bin", false, true],
    ["cc.bin", false, false],
    ["trailing", false, true],
    ["app.py", false, false],
    ["Procfile", false, false],
  ];
  it.each(cases)("%s (directory: %s) -> ignored %s", (p, isDir, expected) => {
    expect(ignore.ignores(p, isDir)).toBe(expected);
  });
  it("reports negations as unsupported", () => {
    expect(ignore.unsupported).toEqual(["!keep.psd"]);
  });
  it("accepts tar-style names with a trailing slash or ./ prefix", () => {
    expect(ignore.ignores("docs/", true)).toBe(true);
    expect(ignore.ignores("./design.psd", false)).toBe(true);
  });
  it("an empty file ignores nothing", () => {
    expect(parseSlugignore("\n# only comments\n").ignores("anything", false)).toBe(false);
  });
});
