import { createHash } from "node:crypto";
import { buildpackDigest } from "../buildpacks/buildpack-digest.js";
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

export async function buildInputs(
  runtime: ContainerRuntime,
  stack: string,
  build: { readonly source: SourceRef; readonly commit: string; readonly configVars: Readonly<Record<string, string>> },
  buildpacks: readonly ResolvedBuildpack[],
  signal: AbortSignal,
): Promise<BuildInputs> {
  const [{ tree }, images, identities] = await Promise.all([
    readPushedCommit(build.source, build.commit, signal),
    Promise.all(["build", "run"].map((role) => runtime.inspectImage(`slugforge/stack:${stack}-${role}`))),
    Promise.all(buildpacks.map(async (bp) => `${bp.spec}@${bp.commit ?? `sha256:${await buildpackDigest(bp.hostDir)}`}`)),
  ]);
  const [buildImage, runImage] = images;
  if (!buildImage || !runImage) throw new SlugforgeError("STACK_MISSING", `the ${stack} stack's images are missing; run \`slugforge stack build\``);
  const config = Object.keys(build.configVars)
    .sort()
    .map((k) => [k, build.configVars[k]]);
  const parts = { tree, buildpacks: identities, stack: { build: buildImage.id, run: runImage.id }, config };
  return { key: createHash("sha256").update(JSON.stringify(parts)).digest("hex"), tree, buildpacks: identities, stack: parts.stack };
}
