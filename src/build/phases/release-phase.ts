import { stat } from "node:fs/promises";
import path from "node:path";
import { parseProcfile } from "../../buildpacks/procfile.js";
import { parseReleaseYaml, type ReleaseInfo } from "../../buildpacks/release-yaml.js";
import { SlugforgeError } from "../../errors.js";
import { failpoint } from "../../util/failpoints.js";
import type { BuildContext, Phase } from "../build-context.js";
import { BUILD_DIR, buildEnv, captureInBuild } from "../container-exec.js";

const NO_PROCFILE = 3;

/**
 * `bin/release` of the last buildpack (its `export` is not sourced, as on Heroku), then the
 * app's Procfile, whose types override the buildpack's `default_process_types`.
 */
export const releasePhase: Phase = {
  name: "release",
  async run(ctx) {
    await failpoint("release", ctx.request.app, ctx.signal);
    // Two execs at once: each costs a round trip to the engine.
    const [release, procfile] = await Promise.all([runRelease(ctx), readProcfile(ctx)]);
    ctx.release = release;
    ctx.out.step("Discovering process types");
    const declared = procfile ? Object.keys(procfile) : [];
    ctx.out.detail(`Procfile declares types     -> ${declared.length > 0 ? declared.join(", ") : "(none)"}`);
    const defaults = Object.keys(release.defaultProcessTypes).filter((t) => !declared.includes(t));
    if (defaults.length > 0) ctx.out.detail(`Default types for buildpack -> ${defaults.join(", ")}`);
    ctx.processTypes = { ...release.defaultProcessTypes, ...procfile };
  },
};

async function runRelease(ctx: BuildContext): Promise<ReleaseInfo> {
  const last = ctx.buildpacks[ctx.buildpacks.length - 1];
  if (!last) return parseReleaseYaml("", "(none)");
  const present = await stat(path.join(last.hostDir, "bin", "release")).then((s) => s.isFile(), () => false);
  if (!present) return parseReleaseYaml("", last.spec);
  const stderr = ctx.out.stream();
  const result = await captureInBuild(ctx, [`${last.dir}/bin/release`, BUILD_DIR], buildEnv(ctx), stderr);
  stderr.flushNow();
  if (result.code !== 0) {
    throw new SlugforgeError("RELEASE_INVALID", `bin/release of ${last.spec} exited with ${result.code}.`, { data: { buildpack: last.spec } });
  }
  const release = parseReleaseYaml(result.stdout, last.spec);
  if (release.addons.length > 0 || Object.keys(release.configVars).length > 0) {
    ctx.log.info({ addons: release.addons, configVarNames: Object.keys(release.configVars) }, "bin/release addons and config_vars are not applied");
  }
  return release;
}

async function readProcfile(ctx: BuildContext): Promise<Record<string, string> | undefined> {
  const script = `if [ -f ${BUILD_DIR}/Procfile ]; then cat ${BUILD_DIR}/Procfile; else exit ${NO_PROCFILE}; fi`;
  const result = await captureInBuild(ctx, ["bash", "-c", script], buildEnv(ctx), undefined, 256 * 1024);
  if (result.code === NO_PROCFILE) return undefined;
  const parsed = parseProcfile(result.stdout);
  for (const line of parsed.invalidLines) ctx.out.error(`Procfile: ignored a line that is not "name: command": ${line}`);
  return { ...parsed.processTypes };
}
