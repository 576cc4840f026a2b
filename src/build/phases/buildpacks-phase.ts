import { parseBuildpackRef, parseBuildpacksFile, type BuildpackRef } from "../../buildpacks/buildpack-ref.js";
import type { ResolvedBuildpack } from "../../buildpacks/resolve-buildpacks.js";
import { SlugforgeError } from "../../errors.js";
import { failpoint } from "../../util/failpoints.js";
import path from "node:path";
import { packDirectory } from "../../slug/tar-pack.js";
import { type BuildContext, type InstalledBuildpack, type Phase } from "../build-context.js";
import { BUILD_DIR, BUILD_UID, buildEnv, captureInBuild, extractIntoBuild } from "../container-exec.js";
import { readCommitFile } from "../git-source.js";
import { CACHE_ROOT } from "./cache-phase.js";

const BUILDPACKS_DIR = "/tmp/buildpacks";

/**
 * Chooses the buildpacks (BUILDPACK_URL, else `.buildpacks`, else the shipped ones in order),
 * copies them into the container and runs detect. With the app's own list every buildpack must
 * accept the app; with the shipped list the first that does wins.
 */
export const buildpacksPhase: Phase = {
  name: "buildpacks",
  async run(ctx) {
    const named = ctx.namedBuildpacks;
    const refs = named ? undefined : await appBuildpacks(ctx);
    const candidates = named ? [...named] : refs ? await ctx.deps.buildpacks.resolve(refs, ctx.signal) : await ctx.deps.buildpacks.shipped();
    const everyOne = named !== undefined || refs !== undefined;
    for (const bp of candidates) {
      if (bp.commit) ctx.out.step(`Using buildpack ${bp.spec} (${bp.commit.slice(0, 7)})`);
    }
    const installed = await install(ctx, candidates);
    await failpoint("detect", ctx.request.app, ctx.signal);
    const chosen: InstalledBuildpack[] = [];
    for (const bp of installed) {
      const name = await detect(ctx, bp);
      if (name === undefined) {
        if (everyOne) throw await noneDetected(ctx, installed, `${bp.spec} does not accept this app (bin/detect failed).`);
        continue;
      }
      ctx.out.step(`${name} app detected`);
      chosen.push(bp);
      if (!everyOne) break;
    }
    if (chosen.length === 0) throw await noneDetected(ctx, installed, "No buildpack detected this app.");
    ctx.buildpacks = chosen;
    ctx.log.info({ buildpacks: chosen.map((b) => ({ spec: b.spec, commit: b.commit })) }, "buildpacks chosen");
  },
};

async function appBuildpacks(ctx: BuildContext): Promise<BuildpackRef[] | undefined> {
  const url = ctx.configVars.BUILDPACK_URL?.trim();
  if (url) return [parseBuildpackRef(url)];
  const file = await readCommitFile(ctx.request.source, ctx.request.commit, ".buildpacks", ctx.signal);
  if (file === undefined) return undefined;
  const refs = parseBuildpacksFile(file);
  return refs.length > 0 ? refs : undefined;
}

/** Each buildpack goes to `/tmp/buildpacks/<index>-<name>`, owned by the build user (it may write `export` there). */
async function install(ctx: BuildContext, buildpacks: readonly ResolvedBuildpack[]): Promise<InstalledBuildpack[]> {
  const owner = { uid: BUILD_UID, gid: BUILD_UID };
  const installed: InstalledBuildpack[] = [];
  for (const [i, bp] of buildpacks.entries()) {
    const dirName = `${i}-${bp.name}`;
    const tar = packDirectory(bp.hostDir, { prefix: `${path.posix.basename(BUILDPACKS_DIR)}/${dirName}`, owner, skipTopLevel: [".git"] });
    await extractIntoBuild(ctx, tar, path.posix.dirname(BUILDPACKS_DIR));
    installed.push({ ...bp, dir: `${BUILDPACKS_DIR}/${dirName}`, cacheDir: `${CACHE_ROOT}/${bp.key}` });
  }
  return installed;
}

/** The app type the buildpack names (its detect stdout), or undefined when detect says no. */
async function detect(ctx: BuildContext, bp: InstalledBuildpack): Promise<string | undefined> {
  const result = await captureInBuild(ctx, [`${bp.dir}/bin/detect`, BUILD_DIR], buildEnv(ctx));
  ctx.log.debug({ buildpack: bp.spec, code: result.code }, "detect");
  (ctx.detections ??= []).push({ buildpack: bp.spec, exitCode: result.code, stdout: result.stdout });
  if (result.code !== 0) return undefined;
  return result.stdout.trim().split("\n")[0]?.trim() || bp.name;
}

async function noneDetected(ctx: BuildContext, tried: readonly InstalledBuildpack[], why: string): Promise<SlugforgeError> {
  const listing = await captureInBuild(ctx, ["ls", "-A", BUILD_DIR], buildEnv(ctx));
  const files = listing.stdout.split("\n").filter(Boolean);
  const shown = files.length > 20 ? [...files.slice(0, 20), `… (${files.length - 20} more)`] : files;
  const names = tried.map((b) => b.spec);
  return new SlugforgeError(
    "NO_BUILDPACK_DETECTED",
    `${why} The app root holds: ${shown.join(", ") || "(nothing)"}. Buildpacks tried: ${names.join(", ") || "(none installed)"}.`,
    { data: { files: shown, buildpacks: names } },
  );
}
