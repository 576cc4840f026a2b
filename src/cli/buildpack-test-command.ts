import { parseDuration, parseConfig, type BuildMount, type NetworkMode } from "../config/parse-config.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { createDockerRuntime } from "../docker/dockerode-runtime.js";
import { isSlugforgeError } from "../errors.js";
import { createLogger, silentLogger } from "../log.js";
import { CONFIG_VAR_NAME_RULE, isConfigVarName } from "../names.js";
import { formatJunitReport } from "../buildpack-test/reporters/junit-reporter.js";
import { formatTableReport } from "../buildpack-test/reporters/table-reporter.js";
import { formatTapReport } from "../buildpack-test/reporters/tap-reporter.js";
import type { RunReport } from "../buildpack-test/results.js";
import { runBuildpackTests, TestSetupError } from "../buildpack-test/run-tests.js";

export const BUILDPACK_TEST_USAGE = `Usage: slugforge buildpack test <buildpack> <sample>... [options]
       slugforge buildpack test --buildpack <bp> [--buildpack <bp>]... <sample>... [options]

Runs a buildpack against sample apps on the same engine that builds pushes, without a server:
detect, a cold compile, a warm compile with the cache the first one left, release (YAML checked)
and the slug, the Testpack API (bin/test-compile, bin/test) when present, and optionally a boot
of the web process with an HTTP probe. A sample's slugforge-test.yml says what should happen
(docs/buildpack-test.md); without one: detect passes, both compiles and release succeed.

  <buildpack>   a directory (used as it is on disk) or a git URL with an optional #ref
  <sample>      an app directory (as it is on disk), a git URL or bare repository, or a folder of
                samples (each subfolder one app)

Options:
  -b, --buildpack BP     a buildpack; repeat for a multi-buildpack build (in order). With it,
                         every argument is a sample.
  --reporter NAME        table (default), tap, junit or json
  --json                 the same as --reporter json
  -j, --jobs N           samples built at the same time (default 2)
  --network MODE         none or bridge, for builds and boots (default SLUGFORGE_BUILD_NETWORK, else bridge)
  -e, --env KEY=VALUE    a config var (ENV_DIR) for every sample; repeat
  --mount HOST:CONTAINER[:ro|rw]
                         an extra mount for builds and boots (read-only by default); repeat
  --stack NAME           the stack (default SLUGFORGE_STACK, else debian-13)
  --timeout DURATION     each phase's limit, e.g. 90s or 10m (default SLUGFORGE_BUILD_TIMEOUT, 15m)
  --boot                 boot and probe every sample's web process (a probe: in slugforge-test.yml always does)
  --keep                 keep each sample's work folder (source, cache, slug, output per phase)
  -q, --quiet            no progress lines on stderr

Exit codes: 0 every expectation held, 1 some did not, 2 wrong usage or an invalid
slugforge-test.yml, 3 no Docker engine or no stack images.`;

export interface CommandIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The engine (tests may pass their own); the Docker engine of DOCKER_HOST by default. */
  readonly runtime?: ContainerRuntime;
  readonly signal?: AbortSignal;
}

interface Options {
  buildpacks: string[];
  samples: string[];
  reporter: "table" | "tap" | "junit" | "json";
  jobs: number;
  network?: NetworkMode;
  env: Record<string, string>;
  mounts: BuildMount[];
  stack?: string;
  timeoutMs?: number;
  boot: boolean;
  keep: boolean;
  quiet: boolean;
}

const REPORTERS: Record<Options["reporter"], (r: RunReport) => string> = {
  table: formatTableReport,
  tap: formatTapReport,
  junit: formatJunitReport,
  json: (r) => JSON.stringify(r, null, 2),
};

/** `slugforge buildpack test ...`; resolves with the exit code. */
export async function runBuildpackTestCommand(args: string[], env: NodeJS.ProcessEnv, io: CommandIO = defaultIO()): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout(BUILDPACK_TEST_USAGE);
    return 0;
  }
  const parsed = parseArgs(args);
  if (typeof parsed === "string") {
    io.stderr(`${parsed}\n\n${BUILDPACK_TEST_USAGE}`);
    return 2;
  }
  const settings = parseConfig({ ...env, ...(parsed.stack ? { SLUGFORGE_STACK: parsed.stack } : {}) });
  if (settings.errors) {
    io.stderr(`the settings are not usable:\n  ${settings.errors.join("\n  ")}`);
    return 2;
  }
  const config = settings.config;
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new Error("interrupted"));
  io.signal?.addEventListener("abort", onSignal, { once: true });
  process.once("SIGINT", onSignal);
  try {
    const report = await runBuildpackTests({
      runtime: io.runtime ?? createDockerRuntime({ dockerHost: config.dockerHost }),
      buildpacks: parsed.buildpacks,
      samples: parsed.samples,
      config: {
        ...config,
        buildNetwork: parsed.network ?? config.buildNetwork,
        buildMounts: [...config.buildMounts, ...parsed.mounts],
        buildTimeoutMs: parsed.timeoutMs ?? config.buildTimeoutMs,
      },
      env: parsed.env,
      jobs: parsed.jobs,
      keep: parsed.keep,
      boot: parsed.boot,
      log: env.SLUGFORGE_LOG_LEVEL ? createLogger(env.SLUGFORGE_LOG_LEVEL) : silentLogger(),
      signal: controller.signal,
      progress: parsed.quiet ? undefined : (sample, phase, state) => state === "started" && io.stderr(`[${sample}] ${phase}…`),
      onSample: parsed.quiet ? undefined : (s) => io.stderr(`[${s.sample}] ${s.passed ? "passed" : "FAILED"}`),
    });
    io.stdout(REPORTERS[parsed.reporter](report));
    return report.passed ? 0 : 1;
  } catch (err) {
    if (err instanceof TestSetupError) {
      io.stderr(`slugforge buildpack test: nothing was built:\n  ${err.problems.join("\n  ")}`);
      return 2;
    }
    if (isSlugforgeError(err)) {
      io.stderr(`error ${err.code}: ${err.message}\n  ${err.hint}`);
      return err.code === "DOCKER_UNAVAILABLE" || err.code === "STACK_MISSING" ? 3 : 1;
    }
    if (controller.signal.aborted) {
      io.stderr("slugforge buildpack test: interrupted");
      return 130;
    }
    throw err;
  } finally {
    process.removeListener("SIGINT", onSignal);
    io.signal?.removeEventListener("abort", onSignal);
  }
}

/** The options, or what is wrong with them. */
export function parseArgs(args: readonly string[]): Options | string {
  const o: Options = { buildpacks: [], samples: [], reporter: "table", jobs: 2, env: {}, mounts: [], boot: false, keep: false, quiet: false };
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string | undefined => (eq > 0 ? arg.slice(eq + 1) : args[++i]);
    switch (name) {
      case "-b":
      case "--buildpack": {
        const v = value();
        if (!v) return `${name} needs a buildpack`;
        o.buildpacks.push(v);
        break;
      }
      case "--reporter": {
        const v = value();
        if (v !== "table" && v !== "tap" && v !== "junit" && v !== "json") return `--reporter: expected table, tap, junit or json (got ${v ?? "nothing"})`;
        o.reporter = v;
        break;
      }
      case "--json":
        o.reporter = "json";
        break;
      case "-j":
      case "--jobs": {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1 || n > 64) return `${name}: expected a whole number from 1 to 64`;
        o.jobs = n;
        break;
      }
      case "--network": {
        const v = value();
        if (v !== "none" && v !== "bridge") return `--network: expected none or bridge (got ${v ?? "nothing"})`;
        o.network = v;
        break;
      }
      case "-e":
      case "--env": {
        const v = value() ?? "";
        const eq = v.indexOf("=");
        if (eq === -1 || !isConfigVarName(v.slice(0, eq))) return `${name}: expected KEY=VALUE, KEY of ${CONFIG_VAR_NAME_RULE} (got ${JSON.stringify(v)})`;
        o.env[v.slice(0, eq)] = v.slice(eq + 1);
        break;
      }
      case "--mount": {
        const mount = parseMount(value() ?? "");
        if (typeof mount === "string") return mount;
        o.mounts.push(mount);
        break;
      }
      case "--stack": {
        const v = value();
        if (!v) return "--stack needs a name";
        o.stack = v;
        break;
      }
      case "--timeout": {
        const ms = parseDuration(value() ?? "");
        if (ms === undefined) return "--timeout: expected a duration such as 90s, 10m or 600 (seconds)";
        o.timeoutMs = ms;
        break;
      }
      case "--boot":
        o.boot = true;
        break;
      case "--keep":
        o.keep = true;
        break;
      case "-q":
      case "--quiet":
        o.quiet = true;
        break;
      default:
        if (arg.startsWith("-") && arg !== "-") return `unknown option ${arg}`;
        positional.push(arg);
    }
  }
  if (o.buildpacks.length === 0) {
    const first = positional.shift();
    if (first) o.buildpacks.push(first);
  }
  o.samples = positional;
  if (o.buildpacks.length === 0) return "name a buildpack";
  if (o.samples.length === 0) return "name at least one sample (an app directory, a git URL or a folder of samples)";
  return o;
}

function parseMount(raw: string): BuildMount | string {
  const [host, container, mode, ...rest] = raw.split(":");
  if (!host || !container || rest.length > 0 || !host.startsWith("/") || !container.startsWith("/")) {
    return `--mount: expected /host/path:/container/path[:ro|rw] with absolute paths (got ${JSON.stringify(raw)})`;
  }
  if (mode !== undefined && mode !== "ro" && mode !== "rw") return `--mount: the mode must be ro or rw (got ${mode})`;
  return { host, container, readOnly: mode !== "rw" };
}

function defaultIO(): CommandIO {
  return { stdout: (t) => console.log(t), stderr: (t) => console.error(t) };
}
