import { SlugforgeError } from "../../errors.js";
import { failpoint } from "../../util/failpoints.js";
import type { InstalledBuildpack, Phase } from "../build-context.js";
import { BUILD_DIR, ENV_DIR, buildEnv, runInBuild } from "../container-exec.js";

/**
 * `bin/compile BUILD_DIR CACHE_DIR ENV_DIR` for each chosen buildpack in order, output passed to
 * the pusher as it comes. Before each one after the first, the earlier buildpacks' `export`
 * files are sourced (Heroku's multi-buildpack contract), so the compile runs under `bash -c`.
 */
export const compilePhase: Phase = {
  name: "compile",
  async run(ctx) {
    await failpoint("compile", ctx.request.app, ctx.signal);
    for (const [i, bp] of ctx.buildpacks.entries()) {
      const env = buildEnv(ctx, { CACHE_DIR: bp.cacheDir, ENV_DIR });
      const cmd = compileCommand(bp, ctx.buildpacks.slice(0, i));
      const stdout = ctx.out.stream();
      const stderr = ctx.out.stream();
      const started = Date.now();
      let code: number;
      try {
        code = await runInBuild(ctx, cmd, env, { stdout, stderr });
      } finally {
        stdout.flushNow();
        stderr.flushNow();
      }
      ctx.log.info({ buildpack: bp.spec, code, ms: Date.now() - started }, "compile finished");
      if (code !== 0) {
        throw new SlugforgeError("COMPILE_FAILED", `Failed to compile the app with ${bp.spec} (bin/compile exited with ${code}).`, {
          data: { buildpack: bp.spec, exitCode: code },
        });
      }
    }
  },
};

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
