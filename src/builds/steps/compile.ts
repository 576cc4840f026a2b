import { SlugforgeError } from "../../errors.js";
import { failpoint } from "../../util/failpoints.js";
import { BUILD_DIR, ENV_DIR, buildEnv, runInBuild } from "../container-exec.js";
import type { StandbyExec } from "../standby-exec.js";
import type { InstalledBuildpack, StepContext } from "./step.js";

/**
 * `bin/compile BUILD_DIR CACHE_DIR ENV_DIR` for each buildpack in order, output passed to the
 * pusher as it comes. Before each one after the first, the earlier buildpacks' `export` files are
 * sourced (Heroku's multi-buildpack contract), so the compile runs under `bash -c`. The first one
 * runs in `standby` when given: an exec started ahead that waits for it.
 */
export async function compile(step: StepContext, buildpacks: readonly InstalledBuildpack[], standby?: StandbyExec): Promise<void> {
  await failpoint("compile", step.app, step.signal);
  for (const [i, bp] of buildpacks.entries()) {
    const started = Date.now();
    const code = await runStreamed(step, compileCommand(bp, buildpacks.slice(0, i)), { CACHE_DIR: bp.cacheDir, ENV_DIR }, i === 0 ? standby : undefined);
    step.log.info({ buildpack: bp.spec, code, ms: Date.now() - started }, "compile finished");
    if (code !== 0) {
      throw new SlugforgeError("COMPILE_FAILED", `Failed to compile the app with ${bp.spec} (bin/compile exited with ${code}).`, {
        data: { buildpack: bp.spec, exitCode: code },
      });
    }
  }
}

/** A buildpack program run as the build user, its stdout and stderr streamed to the pusher line by line. */
export async function runStreamed(step: StepContext, cmd: readonly string[], extraEnv: Record<string, string>, standby?: StandbyExec): Promise<number> {
  const stdout = step.out.stream();
  const stderr = step.out.stream();
  try {
    const env = buildEnv(step, extraEnv);
    return await (standby ? standby.run(cmd, env, { stdout, stderr }, step.signal) : runInBuild(step, cmd, env, { stdout, stderr }));
  } finally {
    stdout.flushNow();
    stderr.flushNow();
  }
}

/**
 * The command line of `bin/<program>` (compile, or the testpack's test-compile, which takes the
 * same arguments) with the earlier buildpacks' exports sourced first.
 */
export function compileCommand(bp: InstalledBuildpack, earlier: readonly InstalledBuildpack[], program = "compile"): string[] {
  const args = [BUILD_DIR, bp.cacheDir, ENV_DIR];
  if (earlier.length === 0) return [`${bp.dir}/bin/${program}`, ...args];
  // Our own paths (index and a sanitised name), so single quotes are safe.
  const sources = earlier.map((e) => `if [ -f '${e.dir}/export' ]; then . '${e.dir}/export'; fi`);
  const script = [...sources, `exec '${bp.dir}/bin/${program}' "$@"`].join("\n");
  return ["bash", "-c", script, program, ...args];
}
