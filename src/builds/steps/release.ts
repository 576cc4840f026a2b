import { constants } from "node:fs";
import { open, stat } from "node:fs/promises";
import path from "node:path";
import { parseProcfile } from "../../buildpacks/procfile.js";
import { parseReleaseYaml, type ReleaseInfo } from "../../buildpacks/release-yaml.js";
import { SlugforgeError } from "../../errors.js";
import { failpoint } from "../../util/failpoints.js";
import { isRealDirBeneath } from "../../util/real-dir.js";
import { BUILD_DIR, buildEnv, captureInBuild } from "../container-exec.js";
import type { StandbyExec } from "../standby-exec.js";
import { appRootOf, type InstalledBuildpack, type StepContext } from "./step.js";

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
 * `bin/release` of the last buildpack (its `export` is not sourced, as on Heroku; in `standby`, an
 * exec the prepared container started for it, when given), then the
 * app's Procfile, whose types override the buildpack's `default_process_types`.
 */
export async function release(step: StepContext, buildpacks: readonly InstalledBuildpack[], standby?: StandbyExec): Promise<ReleaseResult> {
  await failpoint("release", step.app, step.signal);
  // Two execs at once: each costs a round trip to the engine.
  const [{ info, yaml }, procfile] = await Promise.all([runRelease(step, buildpacks.at(-1), standby), readProcfile(step)]);
  step.out.step("Discovering process types");
  const declared = procfile ? Object.keys(procfile) : [];
  step.out.detail(`Procfile declares types     -> ${declared.length > 0 ? declared.join(", ") : "(none)"}`);
  const defaults = Object.keys(info.defaultProcessTypes).filter((t) => !declared.includes(t));
  if (defaults.length > 0) step.out.detail(`Default types for buildpack -> ${defaults.join(", ")}`);
  return { release: info, yaml, processTypes: { ...info.defaultProcessTypes, ...procfile } };
}

async function runRelease(step: StepContext, last: InstalledBuildpack | undefined, standby?: StandbyExec): Promise<{ info: ReleaseInfo; yaml: string }> {
  if (!last) return { info: parseReleaseYaml("", "(none)"), yaml: "" };
  const present = await stat(path.join(last.hostDir, "bin", "release")).then((s) => s.isFile(), () => false);
  if (!present) return { info: parseReleaseYaml("", last.spec), yaml: "" };
  const stderr = step.out.stream();
  const result = await captureInBuild(step, [`${last.dir}/bin/release`, BUILD_DIR], buildEnv(step), stderr, undefined, standby && ((cmd, env, io) => standby.run(cmd, env, io, step.signal)));
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

const MAX_PROCFILE_BYTES = 256 * 1024;

async function readProcfile(step: StepContext): Promise<Record<string, string> | undefined> {
  // Where /app was laid beneath the upper layer, an unchanged Procfile is not in that layer: it is read in the mounted root.
  const text = await procfileInLayer(appRootOf(step)).catch(() => undefined);
  if (text === null) return undefined;
  if (text === undefined) {
    const script = `if [ -f ${BUILD_DIR}/Procfile ]; then cat ${BUILD_DIR}/Procfile; else exit ${NO_PROCFILE}; fi`;
    const result = await captureInBuild(step, ["bash", "-c", script], buildEnv(step), undefined, MAX_PROCFILE_BYTES);
    if (result.code === NO_PROCFILE) return undefined;
    return parsedProcfile(step, result.stdout);
  }
  return parsedProcfile(step, text);
}

/**
 * The Procfile read on the host from the container's layer: null when there is none, undefined
 * when the host cannot say (no layer, or not a plain file: a link is followed inside the container
 * only).
 */
async function procfileInLayer(root: string | undefined): Promise<string | null | undefined> {
  const app = BUILD_DIR.slice(1);
  if (!root || !(await isRealDirBeneath(root, app))) return undefined;
  let file;
  try {
    file = await open(path.join(root, app, "Procfile"), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" ? null : undefined;
  }
  try {
    if (!(await file.stat()).isFile()) return undefined;
    const buffer = Buffer.alloc(MAX_PROCFILE_BYTES);
    const { bytesRead } = await file.read(buffer, 0, MAX_PROCFILE_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await file.close();
  }
}

function parsedProcfile(step: StepContext, text: string): Record<string, string> {
  const parsed = parseProcfile(text);
  for (const line of parsed.invalidLines) step.out.error(`Procfile: ignored a line that is not "name: command": ${line}`);
  return { ...parsed.processTypes };
}
