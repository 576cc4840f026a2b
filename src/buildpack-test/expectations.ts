import { parse } from "yaml";
import { parseDuration } from "../config/parse-config.js";
import { parsePattern, type Pattern } from "./pattern.js";

/** The file a sample may hold to say what should happen to it. */
export const EXPECTATIONS_FILE = "slugforge-test.yml";

export interface OutputExpectations {
  readonly outputMatches: readonly Pattern[];
  readonly outputNotMatches: readonly Pattern[];
}

export interface Expectations {
  /** Config vars for this sample (ENV_DIR), over the command line's --env. */
  readonly env: Readonly<Record<string, string>>;
  /** Per-phase time limit, when the sample sets one. */
  readonly timeoutMs?: number;
  readonly detect: { readonly pass: boolean; readonly name?: Pattern };
  readonly compile: { readonly pass: boolean } & OutputExpectations;
  readonly warmCompile: { readonly maxTimeRatio?: number } & OutputExpectations;
  readonly release: {
    readonly pass: boolean;
    readonly configVars: Readonly<Record<string, string>>;
    readonly addons: readonly string[];
    readonly defaultProcessTypes: Readonly<Record<string, Pattern>>;
  };
  readonly processTypes: Readonly<Record<string, Pattern>>;
  readonly slug: { readonly present: readonly string[]; readonly absent: readonly string[] };
  readonly test: { readonly pass: boolean } & OutputExpectations;
  readonly probe?: ProbeExpectations;
}

export interface ProbeExpectations {
  readonly process: string;
  readonly path: string;
  /** Exact status; without it any 2xx or 3xx answer passes. */
  readonly status?: number;
  readonly bodyMatches: readonly Pattern[];
  readonly bodyNotMatches: readonly Pattern[];
  readonly timeoutMs: number;
}

/** What is expected of a sample without a file: detect passes, both compiles and release succeed. */
export const DEFAULT_EXPECTATIONS: Expectations = {
  env: {},
  detect: { pass: true },
  compile: { pass: true, outputMatches: [], outputNotMatches: [] },
  warmCompile: { outputMatches: [], outputNotMatches: [] },
  release: { pass: true, configVars: {}, addons: [], defaultProcessTypes: {} },
  processTypes: {},
  slug: { present: [], absent: [] },
  test: { pass: true, outputMatches: [], outputNotMatches: [] },
};

export const DEFAULT_PROBE: ProbeExpectations = { process: "web", path: "/", bodyMatches: [], bodyNotMatches: [], timeoutMs: 30_000 };

const KEYS: Record<string, readonly string[]> = {
  "": ["env", "timeout", "detect", "compile", "warm_compile", "release", "process_types", "slug", "test", "probe"],
  detect: ["pass", "name"],
  compile: ["pass", "output_matches", "output_not_matches"],
  warm_compile: ["output_matches", "output_not_matches", "max_time_ratio"],
  release: ["pass", "config_vars", "addons", "default_process_types"],
  slug: ["present", "absent"],
  test: ["pass", "output_matches", "output_not_matches"],
  probe: ["process", "path", "status", "body_matches", "body_not_matches", "timeout"],
};

export type ParsedExpectations = { expectations: Expectations; errors?: undefined } | { expectations?: undefined; errors: string[] };

/** Parses a slugforge-test.yml; returns every problem at once, each naming the key it is about. */
export function parseExpectations(text: string): ParsedExpectations {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    return { errors: [`not valid YAML: ${(err as Error).message.split("\n")[0]}`] };
  }
  if (doc === null || doc === undefined) return { expectations: DEFAULT_EXPECTATIONS };
  const errors: string[] = [];
  const r = createReader(errors);
  const top = r.section(doc, "");
  if (!top) return { errors };
  const section = (key: string): Record<string, unknown> => (top[key] === undefined ? {} : r.section(top[key], key) ?? {});
  const output = (s: Record<string, unknown>, key: string): OutputExpectations => ({
    outputMatches: r.patterns(s.output_matches, `${key}.output_matches`),
    outputNotMatches: r.patterns(s.output_not_matches, `${key}.output_not_matches`),
  });
  const detect = section("detect");
  const compile = section("compile");
  const warm = section("warm_compile");
  const release = section("release");
  const slug = section("slug");
  const test = section("test");
  const expectations: Expectations = {
    env: r.strings(top.env, "env"),
    timeoutMs: r.duration(top.timeout, "timeout"),
    detect: { pass: r.bool(detect.pass, "detect.pass") ?? true, name: r.pattern(detect.name, "detect.name") },
    compile: { pass: r.bool(compile.pass, "compile.pass") ?? true, ...output(compile, "compile") },
    warmCompile: { maxTimeRatio: r.positive(warm.max_time_ratio, "warm_compile.max_time_ratio"), ...output(warm, "warm_compile") },
    release: {
      pass: r.bool(release.pass, "release.pass") ?? true,
      configVars: r.strings(release.config_vars, "release.config_vars"),
      addons: r.list(release.addons, "release.addons"),
      defaultProcessTypes: r.patternMap(release.default_process_types, "release.default_process_types"),
    },
    processTypes: r.patternMap(top.process_types, "process_types"),
    slug: { present: r.list(slug.present, "slug.present"), absent: r.list(slug.absent, "slug.absent") },
    test: { pass: r.bool(test.pass, "test.pass") ?? true, ...output(test, "test") },
    probe: top.probe === undefined ? undefined : probe(r, top.probe),
  };
  return errors.length > 0 ? { errors } : { expectations };
}

function probe(r: Reader, raw: unknown): ProbeExpectations {
  // `probe: true` asks for the defaults.
  if (raw === true) return DEFAULT_PROBE;
  const s = r.section(raw, "probe") ?? {};
  const path = r.string(s.path, "probe.path") ?? DEFAULT_PROBE.path;
  if (!path.startsWith("/")) r.error("probe.path", `must start with / (got ${JSON.stringify(path)})`);
  const status = r.positive(s.status, "probe.status");
  if (status !== undefined && (!Number.isInteger(status) || status < 100 || status > 599)) r.error("probe.status", "must be an HTTP status (100 to 599)");
  return {
    process: r.string(s.process, "probe.process") ?? DEFAULT_PROBE.process,
    path,
    status,
    bodyMatches: r.patterns(s.body_matches, "probe.body_matches"),
    bodyNotMatches: r.patterns(s.body_not_matches, "probe.body_not_matches"),
    timeoutMs: r.duration(s.timeout, "probe.timeout") ?? DEFAULT_PROBE.timeoutMs,
  };
}

type Reader = ReturnType<typeof createReader>;

function createReader(errors: string[]) {
  const error = (key: string, why: string): void => void errors.push(`${key || "the file"}: ${why}`);
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const scalar = (v: unknown): string | undefined => (typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : undefined);
  const reader = {
    error,
    section(v: unknown, key: string): Record<string, unknown> | undefined {
      if (!isMap(v)) return void error(key, "must be a mapping");
      const known = KEYS[key] ?? [];
      for (const k of Object.keys(v)) {
        if (!known.includes(k)) error(key ? `${key}.${k}` : k, `unknown key (known${key ? ` under ${key}` : ""}: ${known.join(", ")})`);
      }
      return v;
    },
    bool(v: unknown, key: string): boolean | undefined {
      if (v === undefined || typeof v === "boolean") return v;
      return void error(key, "must be true or false");
    },
    string(v: unknown, key: string): string | undefined {
      if (v === undefined || typeof v === "string") return v;
      return void error(key, "must be a string");
    },
    positive(v: unknown, key: string): number | undefined {
      if (v === undefined || (typeof v === "number" && v > 0)) return v;
      return void error(key, "must be a positive number");
    },
    duration(v: unknown, key: string): number | undefined {
      if (v === undefined) return undefined;
      const ms = typeof v === "number" || typeof v === "string" ? parseDuration(String(v)) : undefined;
      if (ms === undefined) error(key, "must be a duration such as 90, 90s or 5m (a bare number is seconds)");
      return ms;
    },
    list(v: unknown, key: string): string[] {
      if (v === undefined) return [];
      const items = Array.isArray(v) ? v : [v];
      if (!items.every((i) => typeof i === "string")) {
        error(key, "must be a string or a list of strings");
        return [];
      }
      return items as string[];
    },
    pattern(v: unknown, key: string): Pattern | undefined {
      if (v === undefined) return undefined;
      if (typeof v !== "string") return void error(key, "must be a string (text, or /regex/flags)");
      const p = parsePattern(v);
      return typeof p === "string" ? void error(key, p) : p;
    },
    patterns(v: unknown, key: string): Pattern[] {
      return reader.list(v, key).flatMap((s, i) => reader.pattern(s, `${key}[${i}]`) ?? []);
    },
    strings(v: unknown, key: string): Record<string, string> {
      if (v === undefined) return {};
      if (!isMap(v)) {
        error(key, "must be a mapping of names to values");
        return {};
      }
      const out: Record<string, string> = {};
      for (const [k, value] of Object.entries(v)) {
        const s = scalar(value);
        if (s === undefined) error(`${key}.${k}`, "must be a string, number or boolean");
        else out[k] = s;
      }
      return out;
    },
    patternMap(v: unknown, key: string): Record<string, Pattern> {
      const out: Record<string, Pattern> = {};
      for (const [k, s] of Object.entries(reader.strings(v, key))) {
        const p = reader.pattern(s, `${key}.${k}`);
        if (p) out[k] = p;
      }
      return out;
    },
  };
  return reader;
}
