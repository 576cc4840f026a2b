/**
 * `npm run bench [-- --only slug,receive] [--runs 3] [--quick] [--check]`
 *
 * Runs the scenarios of bench/README.md, each against a baseline measured in the same run, prints
 * a table (median, min, max of several runs) and writes bench/results/latest.json. With --check the
 * exit code is 1 when a target is missed (or a scenario could not run).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import path from "node:path";
import { createContext, type Scenario } from "./lib/context.js";
import { Git } from "./lib/git.js";
import { RESULTS_DIR, TempDirs } from "./lib/paths.js";
import { run } from "./lib/proc.js";
import { formatTable, type ScenarioResult } from "./lib/report.js";
import { cacheScenario } from "./scenarios/cache.js";
import { concurrencyScenario } from "./scenarios/concurrency.js";
import { imageScenario } from "./scenarios/image.js";
import { imageBytesScenario } from "./scenarios/image-bytes.js";
import { pushOverheadScenario } from "./scenarios/push-overhead.js";
import { receiveScenario } from "./scenarios/receive.js";
import { runScenario } from "./scenarios/run.js";
import { scaleScenario } from "./scenarios/scale.js";
import { slugScenario } from "./scenarios/slug.js";
import { storageScenario } from "./scenarios/storage.js";

const SCENARIOS: Record<string, Scenario> = {
  slug: slugScenario,
  receive: receiveScenario,
  push: pushOverheadScenario,
  cache: cacheScenario,
  concurrency: concurrencyScenario,
  image: imageScenario,
  "image-bytes": imageBytesScenario,
  run: runScenario,
  storage: storageScenario,
  scale: scaleScenario,
};

const USAGE = `Usage: npm run bench -- [--only ${Object.keys(SCENARIOS).join(",")}] [--runs N] [--quick] [--check]

  --only a,b   run only these scenarios (default: all, in the order above)
  --runs N     runs per scenario (default 3, concurrency 2; --quick: 1)
  --quick      one run each and smaller generated data (a smoke test, not figures to quote)
  --check      exit 1 when a target is missed or a scenario fails`;

interface Options {
  only: string[];
  runs: number;
  runsGiven: boolean;
  quick: boolean;
  check: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const options: Options = { only: Object.keys(SCENARIOS), runs: 0, runsGiven: false, quick: false, check: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--only": {
        options.only = value().split(",").map((s) => s.trim()).filter(Boolean);
        const unknown = options.only.filter((s) => !(s in SCENARIOS));
        if (unknown.length) throw new Error(`unknown scenario ${unknown.join(", ")}; choose from ${Object.keys(SCENARIOS).join(", ")}`);
        break;
      }
      case "--runs":
        options.runs = Number(value());
        options.runsGiven = true;
        if (!Number.isInteger(options.runs) || options.runs < 1) throw new Error("--runs takes a whole number of at least 1");
        break;
      case "--quick":
        options.quick = true;
        break;
      case "--check":
        options.check = true;
        break;
      case "--help":
      case "-h":
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}\n${USAGE}`);
    }
  }
  if (options.runs === 0) options.runs = options.quick ? 1 : 3;
  return options;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const tmp = new TempDirs();
  const onSignal = (): void => {
    tmp.cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const git = new Git(await tmp.make("home"));
  const ctx = createContext({ runs: options.runs, runsGiven: options.runsGiven, quick: options.quick, tmp, git });
  const started = Date.now();
  const results: ScenarioResult[] = [];
  try {
    for (const name of Object.keys(SCENARIOS).filter((s) => options.only.includes(s))) {
      const t = Date.now();
      ctx.progress(`scenario ${name}: ${options.runs} run(s)`);
      const loadBefore = loadavg()[0]!;
      try {
        const result = await SCENARIOS[name]!(ctx);
        // Other work on the machine skews walls; ratios measured back to back skew less.
        results.push({ ...result, notes: [...result.notes, `1-minute load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after (${availableParallelism()} cores)`] });
      } catch (err) {
        console.error(`[bench] scenario ${name} failed: ${(err as Error).stack ?? String(err)}`);
        results.push({ scenario: name, metrics: {}, targets: [], notes: [], error: (err as Error).message });
      }
      ctx.progress(`scenario ${name} took ${((Date.now() - t) / 1000).toFixed(0)} s`);
    }
  } finally {
    await ctx.close();
    // BENCH_KEEP=1 leaves the servers' data (slugs, caches, logs) for a look afterwards.
    if (process.env.BENCH_KEEP) console.error("[bench] BENCH_KEEP: the sf-bench-* folders in the temp folder are kept");
    else await tmp.cleanup();
  }

  const machine = await describeMachine();
  console.log(`\nslugforge benchmarks: ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGb} GB, node ${process.version}, ${machine.git}, ${machine.docker}`);
  console.log(`runs per scenario: ${options.runs}${options.quick ? " (--quick: smaller data)" : ""}; ratios are per run, slugforge / baseline measured back to back\n`);
  console.log(formatTable(results));
  const notes = results.flatMap((r) => r.notes.map((n) => `  ${r.scenario}: ${n}`));
  if (notes.length) console.log(`\nnotes:\n${notes.join("\n")}`);
  const missed = results.flatMap((r) => [...r.targets.filter((t) => !t.pass).map((t) => `${r.scenario}: ${t.text} (median ${t.value.toFixed(3)})`), ...(r.error ? [`${r.scenario}: failed: ${r.error.split("\n")[0]}`] : [])]);
  console.log(missed.length ? `\ntargets missed:\n  ${missed.join("\n  ")}` : "\nall targets met");
  const total = (Date.now() - started) / 1000;
  console.log(`total ${total.toFixed(0)} s`);

  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, "latest.json");
  await writeFile(file, `${JSON.stringify({ date: new Date().toISOString(), machine, options, totalSeconds: total, results }, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  return options.check && missed.length > 0 ? 1 : 0;
}

async function describeMachine(): Promise<{ cpus: number; cpuModel: string; memoryGb: number; git: string; docker: string }> {
  const version = async (cmd: string, args: string[]): Promise<string> => {
    const r = await run(cmd, args).catch(() => undefined);
    return r?.code === 0 ? r.stdout.trim().split("\n")[0]! : `${cmd}: unknown`;
  };
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? "unknown cpu",
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    git: await version("git", ["--version"]),
    docker: `docker ${await version("docker", ["version", "--format", "{{.Server.Version}}"])}`,
  };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
