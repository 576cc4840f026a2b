import { stat } from "node:fs/promises";
import path from "node:path";
import { parseProcfile } from "../../buildpacks/procfile.js";
import { parseReleaseYaml, type ReleaseInfo } from "../../buildpacks/release-yaml.js";
import { SlugforgeError } from "../../errors.js";
import { failpoint } from "../../util/failpoints.js";
import { BUILD_DIR, buildEnv, captureInBuild } from "../container-exec.js";
import type { InstalledBuildpack, StepContext } from "./step.js";

const NO_PROCFILE = 3;

export interface ReleaseResult {
  /** What the last buildpack's bin/release printed, parsed. */
  readonly release: ReleaseInfo;
  /** ... and as it printed it (empty when there is no bin/release). */
  readonly yaml: string;
  /** The Procfile's types over the buildpack's `default_process_types`. */
  readonly processTypes: Readonly<Record<string, string>>;
}

/**
 * `bin/release` of the last buildpack (its `export` is not sourced, as on Heroku), then the
 * app's Procfile, whose types override the buildpack's `default_process_types`.
 */
export async function release(step: StepContext, buildpacks: readonly InstalledBuildpack[]): Promise<ReleaseResult> {
  await failpoint("release", step.app, step.signal);
  // Two execs at once: each costs a round trip to the engine.
  const [{ info, yaml }, procfile] = await Promise.all([runRelease(step, buildpacks.at(-1)), readProcfile(step)]);
  step.out.step("Discovering process types");
  const declared = procfile ? Object.keys(procfile) : [];
  step.out.detail(`Procfile declares types     -> ${declared.length > 0 ? declared.join(", ") : "(none)"}`);
  const defaults = Object.keys(info.defaultProcessTypes).filter((t) => !declared.includes(t));
  if (defaults.length > 0) step.out.detail(`Default types for buildpack -> ${defaults.join(", ")}`);
  return { release: info, yaml, processTypes: { ...info.defaultProcessTypes, ...procfile } };
}

async function runRelease(step: StepContext, last: InstalledBuildpack | undefined): Promise<{ info: ReleaseInfo; yaml: string }> {
  if (!last) return { info: parseReleaseYaml("", "(none)"), yaml: "" };
  const present = await stat(path.join(last.hostDir, "bin", "release")).then((s) => s.isFile(), () => false);
  if (!present) return { info: parseReleaseYaml("", last.spec), yaml: "" };
  const stderr = step.out.stream();
  const result = await captureInBuild(step, [`${last.dir}/bin/release`, BUILD_DIR], buildEnv(step), stderr);
  stderr.flushNow();
  if (result.code !== 0) {
    throw new SlugforgeError("RELEASE_INVALID", `bin/release of ${last.spec} exited with ${result.code}.`, { data: { buildpack: last.spec } });
  }
  const info = parseReleaseYaml(result.stdout, last.spec);
  if (info.addons.length > 0 || Object.keys(info.configVars).length > 0) {
    step.log.info({ addons: info.addons, configVarNames: Object.keys(info.configVars) }, "bin/release addons and config_vars are not applied");
  }
  return { info, yaml: result.stdout };
}

async function readProcfile(step: StepContext): Promise<Record<string, string> | undefined> {
  const script = `if [ -f ${BUILD_DIR}/Procfile ]; then cat ${BUILD_DIR}/Procfile; else exit ${NO_PROCFILE}; fi`;
  const result = await captureInBuild(step, ["bash", "-c", script], buildEnv(step), undefined, 256 * 1024);
  if (result.code === NO_PROCFILE) return undefined;
  const parsed = parseProcfile(result.stdout);
  for (const line of parsed.invalidLines) step.out.error(`Procfile: ignored a line that is not "name: command": ${line}`);
  return { ...parsed.processTypes };
}
