import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ImageInfo } from "../docker/container-runtime.js";
import { makeDebianImage, shortId, type StackBuildOptions } from "./build-stack.js";
import { LABELS } from "./recipes.js";

/*
 * The base of slugforge's own server image where the official Node image cannot be pulled (no
 * registry, as on these machines): Debian 13's own Node.js 20 (20.19), git (receive-pack and
 * upload-pack), perl-base (the pre-receive hook) and tar, made with debootstrap and `docker
 * import` as the stack images are, and named by a hash of its recipe so that an unchanged recipe
 * is never made twice.
 */

const RECIPE = {
  // Bump when the way the image is made changes (not only the package list).
  format: 1,
  suite: "trixie",
  packages: ["nodejs", "git", "ca-certificates", "perl-base", "tar"],
} as const;

const REPOSITORY = "slugforge/node-base";

export function nodeBaseHash(): string {
  return createHash("sha256").update(JSON.stringify({ ...RECIPE, packages: [...RECIPE.packages].sort() })).digest("hex").slice(0, 16);
}

/** `slugforge/node-base:<recipe hash>`. */
export function nodeBaseRef(): string {
  return `${REPOSITORY}:${nodeBaseHash()}`;
}

/** The Debian-made Node base: the one there is for this recipe, else made now (about a minute). */
export async function ensureNodeBase(options: Omit<StackBuildOptions, "force">): Promise<{ ref: string; built: boolean; image: ImageInfo }> {
  const ref = nodeBaseRef();
  const hash = nodeBaseHash();
  const existing = await options.runtime.inspectImage(ref);
  if (existing) {
    options.say(`${ref}: up to date (image ${shortId(existing.id)})`);
    return { ref, built: false, image: existing };
  }
  options.say(`${ref}: making it from Debian ${RECIPE.suite} packages (${RECIPE.packages.join(", ")})`);
  const image = await makeDebianImage(
    {
      ref,
      suite: RECIPE.suite,
      packages: RECIPE.packages,
      scratchName: "node-base",
      labels: { [LABELS.recipe]: hash, [LABELS.role]: "node-base" },
      finish: finishRootfs,
    },
    options,
  );
  return { ref, built: true, image };
}

function finishRootfs(rootfs: string): void {
  for (const junk of ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info"]) {
    rmSync(path.join(rootfs, junk), { recursive: true, force: true });
    mkdirSync(path.join(rootfs, junk), { recursive: true });
  }
  writeFileSync(path.join(rootfs, "etc/slugforge-node-base"), `${RECIPE.suite} ${RECIPE.packages.join(" ")}\n`);
}
