import { describe, expect, it } from "vitest";
import { parseReleaseYaml } from "../../../src/buildpacks/release-yaml.js";
import { isSlugforgeError } from "../../../src/errors.js";

const codeOf = (text: string): string | undefined => {
  try {
    parseReleaseYaml(text, "bp");
    return undefined;
  } catch (err) {
    return isSlugforgeError(err) ? err.code : "not a SlugforgeError";
  }
};

describe("parseReleaseYaml", () => {
  it("reads the three documented keys", () => {
    expect(parseReleaseYaml("---\naddons:\n  - heroku-postgresql\nconfig_vars:\n  A: b\n  N: 3\ndefault_process_types:\n  web: gunicorn app:app\n", "bp")).toEqual({
      addons: ["heroku-postgresql"],
      configVars: { A: "b", N: "3" },
      defaultProcessTypes: { web: "gunicorn app:app" },
    });
  });
  it("empty output (or an empty document) is an empty release", () => {
    expect(parseReleaseYaml("", "bp").defaultProcessTypes).toEqual({});
    expect(parseReleaseYaml("---\n", "bp").addons).toEqual([]);
    expect(parseReleaseYaml("--- {}\n", "bp").configVars).toEqual({});
  });
  it.each([
    ["a list", "- web\n- worker\n"],
    ["a scalar", "just text\n"],
    ["an unknown key", "default_process_types: {}\nprocesses: {}\n"],
    ["process types not a mapping", "default_process_types: [web]\n"],
    ["a nested command", "default_process_types:\n  web:\n    cmd: x\n"],
    ["addons not a list of names", "addons: heroku-postgresql\n"],
    ["broken YAML", "default_process_types: {web: [\n"],
  ])("RELEASE_INVALID for %s", (_name, text) => {
    expect(codeOf(text)).toBe("RELEASE_INVALID");
  });
});
