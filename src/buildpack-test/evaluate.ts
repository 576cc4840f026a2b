import { formatDuration } from "../builds/format-duration.js";
import type { Expectations, OutputExpectations } from "./expectations.js";
import type { Observation, Observed } from "./observed.js";
import { globToRegExp, type Pattern } from "./pattern.js";
import { PHASE_NAMES, type PhaseName, type PhaseResult } from "./results.js";

interface Verdict {
  readonly failures: string[];
  readonly notes: string[];
}

/** Applies the contract checks and a sample's expectations to what was observed: one result per phase. */
export function evaluate(observed: Observed, exp: Expectations): PhaseResult[] {
  const verdicts: Partial<Record<PhaseName, Verdict>> = {
    detect: observed.detect && judgeDetect(observed.detect, exp),
    compile: observed.compile && judgeCompile(observed.compile, exp.compile.pass, exp.compile),
    "warm-compile": observed.warmCompile && judgeWarm(observed, exp),
    release: observed.release && judgeRelease(observed.release, exp),
    test: observed.test && judgeTest(observed.test, exp),
    boot: observed.boot && judgeBoot(observed.boot, exp),
  };
  const seen: Record<PhaseName, Observation | undefined> = {
    detect: observed.detect,
    compile: observed.compile,
    "warm-compile": observed.warmCompile,
    release: observed.release,
    test: observed.test,
    boot: observed.boot,
  };
  return PHASE_NAMES.map((phase): PhaseResult => {
    const o = seen[phase];
    const v = verdicts[phase];
    if (!o || !v) return { phase, status: "skipped", ms: 0, output: "", failures: [], notes: [], skipReason: observed.skipped[phase] ?? "not run" };
    return { phase, status: v.failures.length > 0 ? "failed" : "passed", ms: o.ms, output: o.output, failures: v.failures, notes: v.notes };
  });
}

/** A phase expected to pass or fail: the failure itself, or the surprise that there was none. */
function judgePass(o: Observation, pass: boolean, what: string): string[] {
  if (pass && o.error) return [o.error];
  if (!pass && !o.error) return [`${what} succeeded, but the expectations say it fails`];
  // A timeout is never what "fails" meant.
  if (!pass && o.error?.startsWith("BUILD_TIMEOUT")) return [o.error];
  return [];
}

function judgeOutput(text: string, exp: OutputExpectations, what: string): string[] {
  return [
    ...exp.outputMatches.filter((p) => !p.test(text)).map((p) => `${what} output does not match ${show(p)}`),
    ...exp.outputNotMatches.filter((p) => p.test(text)).map((p) => `${what} output matches ${show(p)}, which it must not`),
  ];
}

function judgeDetect(o: NonNullable<Observed["detect"]>, exp: Expectations): Verdict {
  const failures = judgePass(o, exp.detect.pass, "detect");
  const accepted = o.detections.filter((d) => d.exitCode === 0);
  for (const d of accepted) {
    if (d.stdout.trim() === "") failures.push(`contract: bin/detect of ${d.buildpack} exited 0 without printing the app type's name`);
  }
  const names = accepted.map((d) => d.stdout.trim().split("\n")[0]?.trim() ?? "");
  if (exp.detect.name && !names.some((n) => exp.detect.name!.test(n))) {
    failures.push(`detect named the app ${names.map((n) => JSON.stringify(n)).join(", ") || "(nothing)"}, expected ${show(exp.detect.name)}`);
  }
  return { failures, notes: [] };
}

function judgeCompile(o: NonNullable<Observed["compile"]>, pass: boolean, exp: OutputExpectations, what = "compile"): Verdict {
  const failures = [
    ...judgePass(o, pass, what),
    ...judgeOutput(o.output, exp, what),
    ...o.checks.writesOutside.map((p) => `contract: ${what} wrote outside BUILD_DIR and CACHE_DIR (lost when the slug is made): ${p}`),
    ...o.checks.exportErrors.map((e) => `contract: ${e}`),
  ];
  return { failures, notes: o.checks.cacheNote ? [o.checks.cacheNote] : [] };
}

function judgeWarm(observed: Observed, exp: Expectations): Verdict {
  const warm = observed.warmCompile!;
  const verdict = judgeCompile(warm, true, exp.warmCompile, "warm compile");
  const cold = observed.compile?.ms ?? 0;
  const max = exp.warmCompile.maxTimeRatio;
  if (max !== undefined && !warm.error && cold > 0 && warm.ms / cold > max) {
    verdict.failures.push(`warm compile took ${formatDuration(warm.ms)}, ${(warm.ms / cold).toFixed(2)}× the cold compile's ${formatDuration(cold)}; at most ${max}× expected`);
  }
  return verdict;
}

function judgeRelease(o: NonNullable<Observed["release"]>, exp: Expectations): Verdict {
  const failures = judgePass(o, exp.release.pass, "release");
  if (o.error || !exp.release.pass) return { failures, notes: [] };
  const rel = o.release;
  for (const [k, v] of Object.entries(exp.release.configVars)) {
    if (rel?.configVars[k] !== v) failures.push(`release config_vars.${k} is ${JSON.stringify(rel?.configVars[k])}, expected ${JSON.stringify(v)}`);
  }
  for (const a of exp.release.addons) {
    if (!rel?.addons.includes(a)) failures.push(`release addons do not include ${JSON.stringify(a)}`);
  }
  failures.push(...judgeTypes(rel?.defaultProcessTypes ?? {}, exp.release.defaultProcessTypes, "release default_process_types"));
  failures.push(...judgeTypes(o.processTypes, exp.processTypes, "process type"));
  const files = o.slugFiles ?? [];
  for (const glob of exp.slug.present) {
    const re = globToRegExp(glob);
    if (!files.some((f) => re.test(f))) failures.push(`the slug has no ${glob}`);
  }
  for (const glob of exp.slug.absent) {
    const re = globToRegExp(glob);
    const found = files.filter((f) => re.test(f));
    if (found.length > 0) failures.push(`the slug has ${glob}, which must be absent (${found.slice(0, 3).join(", ")}${found.length > 3 ? ", …" : ""})`);
  }
  return { failures, notes: [] };
}

function judgeTypes(actual: Readonly<Record<string, string>>, expected: Readonly<Record<string, Pattern>>, what: string): string[] {
  return Object.entries(expected).flatMap(([name, p]) => {
    const cmd = actual[name];
    if (cmd === undefined) return [`${what} ${name} is missing (have: ${Object.keys(actual).join(", ") || "none"})`];
    return p.test(cmd) ? [] : [`${what} ${name} is ${JSON.stringify(cmd)}, expected ${show(p)}`];
  });
}

function judgeTest(o: Observation, exp: Expectations): Verdict {
  return { failures: [...judgePass(o, exp.test.pass, "the testpack"), ...judgeOutput(o.output, exp.test, "test")], notes: [] };
}

function judgeBoot(o: NonNullable<Observed["boot"]>, exp: Expectations): Verdict {
  if (o.error) return { failures: [o.error], notes: [] };
  const failures: string[] = [];
  const probe = exp.probe;
  const statusOk = probe?.status !== undefined ? o.status === probe.status : o.status >= 200 && o.status < 400;
  if (!statusOk) failures.push(`the probe got HTTP ${o.status}, expected ${probe?.status ?? "2xx or 3xx"}`);
  for (const p of probe?.bodyMatches ?? []) if (!p.test(o.body)) failures.push(`the response body does not match ${show(p)}`);
  for (const p of probe?.bodyNotMatches ?? []) if (p.test(o.body)) failures.push(`the response body matches ${show(p)}, which it must not`);
  return { failures, notes: [] };
}

function show(p: Pattern): string {
  return p.source.startsWith("/") ? p.source : JSON.stringify(p.source);
}
