import { describe, expect, it } from "vitest";
import { DEFAULT_EXPECTATIONS, parseExpectations } from "../../../src/buildpack-test/expectations.js";
import { globToRegExp, parsePattern } from "../../../src/buildpack-test/pattern.js";

describe("parseExpectations", () => {
  it("gives the defaults for an empty file", () => {
    expect(parseExpectations("").expectations).toEqual(DEFAULT_EXPECTATIONS);
  });

  it("reads every section", () => {
    const { expectations, errors } = parseExpectations(`
env: { PIP_NO_INDEX: 1 }
timeout: 5m
detect: { name: Python }
compile: { output_matches: ["Installing", "/python 3\\\\.\\\\d+/i"] }
warm_compile: { max_time_ratio: 0.5, output_not_matches: Downloading }
release: { config_vars: { LANG: C.UTF-8 }, addons: [db], default_process_types: { web: gunicorn } }
process_types: { web: "/^python app\\\\.py$/" }
slug: { present: [app.py], absent: .git }
test: { pass: false }
probe: { path: /health, status: 200, body_matches: ok }
`);
    expect(errors).toBeUndefined();
    expect(expectations!.env).toEqual({ PIP_NO_INDEX: "1" });
    expect(expectations!.timeoutMs).toBe(300_000);
    expect(expectations!.detect.name!.test("Python")).toBe(true);
    expect(expectations!.compile.outputMatches[1]!.test("Python 3.13")).toBe(true);
    expect(expectations!.warmCompile.maxTimeRatio).toBe(0.5);
    expect(expectations!.processTypes.web!.test("python app.py")).toBe(true);
    expect(expectations!.slug).toEqual({ present: ["app.py"], absent: [".git"] });
    expect(expectations!.test.pass).toBe(false);
    expect(expectations!.probe).toMatchObject({ path: "/health", status: 200, process: "web", timeoutMs: 30_000 });
  });

  it("names every bad key and value at once", () => {
    const { errors } = parseExpectations(`
detcet: { pass: true }
compile: { pass: maybe, outptu_matches: x }
probe: { path: health, status: 99 }
slug: { present: [1] }
process_types: { web: "/(/" }
`);
    expect(errors).toEqual([
      "detcet: unknown key (known: env, timeout, detect, compile, warm_compile, release, process_types, slug, test, probe)",
      "compile.outptu_matches: unknown key (known under compile: pass, output_matches, output_not_matches)",
      "compile.pass: must be true or false",
      expect.stringMatching(/^process_types\.web: \/\(\/ is not a valid regular expression/),
      "slug.present: must be a string or a list of strings",
      'probe.path: must start with / (got "health")',
      "probe.status: must be an HTTP status (100 to 599)",
    ]);
  });

  it("refuses what is not a mapping or not YAML", () => {
    expect(parseExpectations("- a\n- b").errors).toEqual(["the file: must be a mapping"]);
    expect(parseExpectations("a: [").errors?.[0]).toMatch(/^not valid YAML/);
  });
});

describe("patterns", () => {
  it("matches text as a substring and /x/ as a regex", () => {
    const text = parsePattern("a.b");
    expect(typeof text !== "string" && text.test("xa.by")).toBe(true);
    expect(typeof text !== "string" && text.test("axb")).toBe(false);
    const re = parsePattern("/^A.B$/i");
    expect(typeof re !== "string" && re.test("axb")).toBe(true);
  });

  it("turns slug globs into anchored path patterns", () => {
    expect(globToRegExp(".heroku/python/bin/python*").test(".heroku/python/bin/python3")).toBe(true);
    expect(globToRegExp("*.py").test("sub/app.py")).toBe(false);
    expect(globToRegExp("**/*.py").test("sub/app.py")).toBe(true);
    expect(globToRegExp("./static/").test("static")).toBe(true);
  });
});
