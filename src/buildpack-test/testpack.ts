import { stat } from "node:fs/promises";
import path from "node:path";
import { BUILD_DIR, ENV_DIR } from "../builds/container-exec.js";
import { compileCommand, runStreamed } from "../builds/steps/compile.js";
import type { InstalledBuildpack, StepContext } from "../builds/steps/step.js";
import type { ResolvedBuildpack } from "../buildpacks/resolve-buildpacks.js";

/**
 * Heroku's Testpack API (https://devcenter.heroku.com/articles/testpack-api), as Heroku CI runs
 * it: each buildpack's `bin/test-compile BUILD_DIR CACHE_DIR ENV_DIR` (its `bin/compile` when it
 * has none, earlier exports sourced as for compile), then the last `bin/test BUILD_DIR ENV_DIR`
 * with the app's .profile.d scripts and the ENV_DIR entries loaded into its environment.
 */
export class TestpackFailed extends Error {}

export async function hasProgram(bp: ResolvedBuildpack, program: string): Promise<boolean> {
  return stat(path.join(bp.hostDir, "bin", program)).then((s) => s.isFile(), () => false);
}

/** True when any of the buildpacks implements the Testpack API. */
export async function hasTestpack(buildpacks: readonly ResolvedBuildpack[]): Promise<boolean> {
  for (const bp of buildpacks) {
    if ((await hasProgram(bp, "test-compile")) || (await hasProgram(bp, "test"))) return true;
  }
  return false;
}

/** Each buildpack's bin/test-compile (or bin/compile), earlier exports sourced first. */
export async function testCompile(step: StepContext, buildpacks: readonly InstalledBuildpack[]): Promise<void> {
  for (const [i, bp] of buildpacks.entries()) {
    const program = (await hasProgram(bp, "test-compile")) ? "test-compile" : "compile";
    const code = await runStreamed(step, compileCommand(bp, buildpacks.slice(0, i), program), { CACHE_DIR: bp.cacheDir, ENV_DIR });
    if (code !== 0) throw new TestpackFailed(`bin/${program} of ${bp.spec} exited with ${code}.`);
  }
}

/** The last buildpack's bin/test, with the app's .profile.d and ENV_DIR loaded. */
export async function runTests(step: StepContext, buildpacks: readonly InstalledBuildpack[]): Promise<void> {
  const candidates = await Promise.all(buildpacks.map(async (bp) => ((await hasProgram(bp, "test")) ? bp : undefined)));
  const last = candidates.filter((b) => b !== undefined).pop();
  if (!last) {
    step.out.step("No buildpack has bin/test: nothing to run");
    return;
  }
  const script = [
    `for f in ${BUILD_DIR}/.profile.d/*.sh; do if [ -f "$f" ]; then . "$f"; fi; done`,
    `for f in ${ENV_DIR}/*; do if [ -f "$f" ]; then export "$(basename "$f")=$(cat "$f")"; fi; done`,
    `exec "$0/bin/test" ${BUILD_DIR} ${ENV_DIR}`,
  ].join("\n");
  const code = await runStreamed(step, ["bash", "-c", script, last.dir], {});
  if (code !== 0) throw new TestpackFailed(`bin/test of ${last.spec} exited with ${code}: the tests failed.`);
}
