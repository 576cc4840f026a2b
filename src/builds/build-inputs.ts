import { createHash } from "node:crypto";
import type { ResolvedBuildpack } from "../buildpacks/resolve-buildpacks.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import { readPushedCommit } from "./git-source.js";
import type { SourceRef } from "./types.js";

/**
 * Everything a build's result depends on: the commit's tree (not the commit: a revert or an empty
 * commit has an earlier tree), the buildpacks that may run (a git one by its commit, a folder by
 * its content), the stack's two images by id, and the config vars the build sees. Two builds with
 * the same key would make the same slug, so the second can reuse the first's.
 */
export interface BuildInputs {
  readonly key: string;
  readonly tree: string;
  readonly buildpacks: readonly string[];
  readonly stack: { readonly build: string; readonly run: string };
}

/** The ids of a stack's build and run images; STACK_MISSING when either is not there. */
export interface StackImages {
  readonly build: string;
  readonly run: string;
}

/** Asks the engine for the stack's two image ids (both at once). */
export async function stackImages(runtime: ContainerRuntime, stack: string): Promise<StackImages> {
  const [buildImage, runImage] = await Promise.all(["build", "run"].map((role) => runtime.inspectImage(`slugforge/stack:${stack}-${role}`)));
  if (!buildImage || !runImage) throw new SlugforgeError("STACK_MISSING", `the ${stack} stack's images are missing; run \`slugforge stack build\``);
  return { build: buildImage.id, run: runImage.id };
}

/** The parts of a build's inputs that its session may have begun to read already. */
export interface InputReads {
  /** The stack's image ids, asked of the build's engine once the build has its slot. */
  readonly stack: Promise<StackImages>;
  /** A folder buildpack's content digest (buildpackDigest), read during this build. */
  digest(hostDir: string): Promise<string>;
}

export async function buildInputs(
  reads: InputReads,
  build: { readonly source: SourceRef; readonly commit: string; readonly configVars: Readonly<Record<string, string>> },
  buildpacks: readonly ResolvedBuildpack[],
  signal: AbortSignal,
): Promise<BuildInputs> {
  const [{ tree }, images, identities] = await Promise.all([
    readPushedCommit(build.source, build.commit, signal),
    reads.stack,
    Promise.all(buildpacks.map(async (bp) => `${bp.spec}@${bp.commit ?? `sha256:${await reads.digest(bp.hostDir)}`}`)),
  ]);
  const config = Object.keys(build.configVars)
    .sort()
    .map((k) => [k, build.configVars[k]]);
  const parts = { tree, buildpacks: identities, stack: { build: images.build, run: images.run }, config };
  return { key: createHash("sha256").update(JSON.stringify(parts)).digest("hex"), tree, buildpacks: identities, stack: parts.stack };
}
