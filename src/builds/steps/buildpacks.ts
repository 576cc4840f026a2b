import path from "node:path";
import { parseBuildpackRef, parseBuildpacksFile, type BuildpackRef } from "../../buildpacks/buildpack-ref.js";
import type { BuildpackResolver, ResolvedBuildpack } from "../../buildpacks/resolve-buildpacks.js";
import { SlugforgeError } from "../../errors.js";
import { failpoint } from "../../util/failpoints.js";
import { CACHE_ROOT } from "../build-container.js";
import { BUILD_DIR, buildEnv, captureInBuild, Collected, extractIntoBuild } from "../container-exec.js";
import { parseAppJson } from "../app-json.js";
import { BUILDPACKS_DIR, buildpackTar } from "../laid-inputs.js";
import { readCommitFile } from "../git-source.js";
import type { SourceRef } from "../types.js";
import { DETECT_STDERR_BYTES, DETECT_STDOUT_BYTES, type DetectedAhead, type Detection, type InstalledBuildpack, type StepContext } from "./step.js";

/** The buildpacks to try, resolved: with a list (the caller's or the app's) every one must accept the app. */
export interface BuildpackCandidates {
  readonly candidates: readonly ResolvedBuildpack[];
  readonly everyOne: boolean;
}

/** Candidates copied into the build container already (installBuildpacks), for detect. */
export interface InstalledCandidates {
  readonly installed: readonly InstalledBuildpack[];
  readonly everyOne: boolean;
}

/** Which buildpacks to try: named by the caller (`slugforge buildpack test`), resolved or installed already, or the app's choice. */
export type BuildpackChoice =
  | { readonly named: readonly ResolvedBuildpack[] }
  | BuildpackCandidates
  | InstalledCandidates
  | { readonly resolver: BuildpackResolver; readonly configVars: Readonly<Record<string, string>>; readonly source: SourceRef };

/**
 * The app's buildpacks, resolved (git ones fetched): BUILDPACK_URL, else `.buildpacks`, else
 * app.json's `buildpacks`, else the shipped ones in detect order. Needs no container: a build's inputs are known before it runs.
 */
export async function chooseBuildpacks(
  resolver: BuildpackResolver,
  app: { readonly commit: string; readonly configVars: Readonly<Record<string, string>>; readonly source: SourceRef },
  signal: AbortSignal,
): Promise<BuildpackCandidates> {
  const refs = await appBuildpacks(app.commit, app.configVars, app.source, signal);
  return refs ? { candidates: await resolver.resolve(refs, signal), everyOne: true } : { candidates: await resolver.shipped(), everyOne: false };
}

export interface DetectResult {
  /** The buildpacks that accepted the app, in order, as installed in the container. */
  readonly buildpacks: readonly InstalledBuildpack[];
  /** Every bin/detect that ran, in order (kept so tools can check the detect contract). */
  readonly detections: readonly Detection[];
}

/**
 * Chooses the buildpacks (named by the caller; else BUILDPACK_URL, else `.buildpacks`, else
 * app.json's, else the shipped ones in order), copies them into the container and runs detect. With a list (the
 * caller's or the app's) every buildpack must accept the app; with the shipped list the first that
 * does wins. `laid`: the key of buildpacks a prepared container holds already. `ahead`: the
 * results of the bin/detect runs the source step made already (the installed candidates', in order).
 */
export async function detectBuildpacks(step: StepContext, choice: BuildpackChoice, laid?: string, ahead: readonly DetectedAhead[] = []): Promise<DetectResult> {
  // Buildpacks a prepared container holds already (`laid`, their key) are replaced, not copied over.
  const { installed, everyOne } = "installed" in choice ? choice : await installBuildpacks(step, await candidatesOf(step, choice), laid === undefined ? undefined : "replace");
  for (const bp of installed) {
    if (bp.commit) step.out.step(`Using buildpack ${bp.spec} (${bp.commit.slice(0, 7)})`);
  }
  await failpoint("detect", step.app, step.signal);
  const detections: Detection[] = [];
  const chosen: InstalledBuildpack[] = [];
  for (const [i, bp] of installed.entries()) {
    const known = ahead[i];
    const detection = known ? { buildpack: bp.spec, ...known } : await detect(step, bp);
    detections.push(detection);
    if (detection.exitCode !== 0) {
      if (everyOne) throw await noneDetected(step, installed, detections, `${bp.spec} does not accept this app (bin/detect failed).`);
      continue;
    }
    step.out.step(`${detection.stdout.trim().split("\n")[0]?.trim() || bp.name} app detected`);
    chosen.push(bp);
    if (!everyOne) break;
  }
  if (chosen.length === 0) throw await noneDetected(step, installed, detections, "No buildpack detected this app.");
  step.log.info({ buildpacks: chosen.map((b) => ({ spec: b.spec, commit: b.commit })) }, "buildpacks chosen");
  return { buildpacks: chosen, detections };
}

async function candidatesOf(step: StepContext, choice: Exclude<BuildpackChoice, InstalledCandidates>): Promise<BuildpackCandidates> {
  if ("named" in choice) return { candidates: choice.named, everyOne: true };
  if ("candidates" in choice) return choice;
  return chooseBuildpacks(choice.resolver, { commit: step.commit, configVars: choice.configVars, source: choice.source }, step.signal);
}

/**
 * Each candidate into the container, at once (one exec each), for detect: it needs no source, so
 * a build does this beside the source step.
 */
export async function installBuildpacks(step: StepContext, choice: BuildpackCandidates, laid?: Laid): Promise<InstalledCandidates> {
  return { installed: await install(step, choice.candidates, laid), everyOne: choice.everyOne };
}

async function appBuildpacks(commit: string, configVars: Readonly<Record<string, string>>, source: SourceRef, signal: AbortSignal): Promise<BuildpackRef[] | undefined> {
  const url = configVars.BUILDPACK_URL?.trim();
  if (url) return [parseBuildpackRef(url)];
  const file = await readCommitFile(source, commit, ".buildpacks", signal);
  const refs = file === undefined ? [] : parseBuildpacksFile(file);
  if (refs.length > 0) return refs;
  // Heroku's order: the app's own settings first, the manifest's list when they name none.
  const manifest = await readCommitFile(source, commit, "app.json", signal);
  return manifest === undefined ? undefined : parseAppJson(manifest).buildpacks?.slice();
}

/** Where each buildpack goes: `/tmp/buildpacks/<index>-<name>`. */
export function installedDir(bp: ResolvedBuildpack, index: number): string {
  return `${BUILDPACKS_DIR}/${index}-${bp.name}`;
}

/**
 * Each buildpack to its folder, owned by the build user (it may write `export` there). `laid`: the
 * host put buildpacks in a prepared container (laid-inputs.ts), the same ones as this build's
 * ("same": nothing is copied) or others ("replace": each folder is emptied and copied again).
 */
async function install(step: StepContext, buildpacks: readonly ResolvedBuildpack[], laid?: Laid): Promise<InstalledBuildpack[]> {
  const installed = buildpacks.map((bp, i): InstalledBuildpack => ({ ...bp, dir: installedDir(bp, i), cacheDir: `${CACHE_ROOT}/${bp.key}` }));
  if (laid === "same") {
    step.log.debug({ buildpacks: installed.map((b) => b.dir) }, "buildpacks laid in the prepared container already");
    return installed;
  }
  await Promise.all(
    installed.map((bp) => extractIntoBuild(step, buildpackTar(bp), path.posix.dirname(BUILDPACKS_DIR), laid ? { clear: bp.dir } : {})),
  );
  return installed;
}

/** Buildpacks a prepared container holds already: the ones this build installs, or others. */
export type Laid = "same" | "replace";

async function detect(step: StepContext, bp: InstalledBuildpack): Promise<Detection> {
  const stderr = new Collected(DETECT_STDERR_BYTES);
  const result = await captureInBuild(step, [`${bp.dir}/bin/detect`, BUILD_DIR], buildEnv(step), stderr, DETECT_STDOUT_BYTES);
  step.log.debug({ buildpack: bp.spec, code: result.code }, "detect");
  return { buildpack: bp.spec, exitCode: result.code, stdout: result.stdout, stderr: stderr.text() };
}

/** NO_BUILDPACK_DETECTED, saying what the app root holds; its data keeps each bin/detect that ran. */
async function noneDetected(step: StepContext, tried: readonly InstalledBuildpack[], detections: readonly Detection[], why: string): Promise<SlugforgeError> {
  const listing = await captureInBuild(step, ["ls", "-A", BUILD_DIR], buildEnv(step));
  const files = listing.stdout.split("\n").filter(Boolean);
  const shown = files.length > 20 ? [...files.slice(0, 20), `… (${files.length - 20} more)`] : files;
  const names = tried.map((b) => b.spec);
  return new SlugforgeError(
    "NO_BUILDPACK_DETECTED",
    `${why} The app root holds: ${shown.join(", ") || "(nothing)"}. Buildpacks tried: ${names.join(", ") || "(none installed)"}.`,
    { data: { files: shown, buildpacks: names, detections } },
  );
}
