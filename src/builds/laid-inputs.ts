import { createHash } from "node:crypto";
import { chmod, chown, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { CONFIG_VAR_NAME } from "../names.js";
import { packDirectory, packEntries } from "../slug/tar-pack.js";
import { clearSetId } from "./build-caches.js";
import { BUILD_UID, ENV_DIR } from "./container-exec.js";
import { untarIntoLayer } from "./laid-source.js";

/*
 * A container made ahead of time for an app's next build (layer mode) also gets, off the push's
 * path, the buildpacks the last build installed (`/tmp/buildpacks/<index>-<name>`) and its ENV_DIR,
 * written by the host into the created container's layer before it starts, as the steps would
 * write them (owned by the build user). Each is named by a key: the next build compares it with
 * its own (the same buildpacks with the same content, the same config vars) and skips the step's
 * exec when they are equal, or replaces what is there when they are not.
 */

/** Where buildpacks go inside the build container. */
export const BUILDPACKS_DIR = "/tmp/buildpacks";

/** A buildpack as installed: its folder inside the container and the host folder it came from. */
export interface BuildpackCopy {
  /** `/tmp/buildpacks/<index>-<name>`. */
  readonly dir: string;
  readonly hostDir: string;
}

/** The key of a set of installed buildpacks: where each one is, and its content's digest (buildpack-digest.ts). */
export function buildpacksKey(copies: readonly { readonly dir: string; readonly digest: string }[]): string {
  return hashOf(JSON.stringify(copies.map((c) => [c.dir, c.digest])));
}

/** The key of an ENV_DIR: the names and values of the config vars that become files in it. */
export function envKey(configVars: Readonly<Record<string, string>>): string {
  return hashOf(JSON.stringify(envFiles(configVars).map((n) => [n, configVars[n] ?? ""])));
}

/** The names of the config vars that can be files in ENV_DIR, sorted. */
export function envFiles(configVars: Readonly<Record<string, string>>): string[] {
  return Object.keys(configVars)
    .filter((n) => CONFIG_VAR_NAME.test(n))
    .sort();
}

/** ENV_DIR's content as a tar: one file per config var, mode 0600, the build user's. */
export function envTar(configVars: Readonly<Record<string, string>>): Readable {
  return packEntries(
    envFiles(configVars).map((n) => ({ name: n, type: "file" as const, mode: 0o600, content: configVars[n] ?? "" })),
    { uid: BUILD_UID, gid: BUILD_UID },
  );
}

/** One buildpack's folder as a tar rooted at /tmp (`buildpacks/<index>-<name>/...`), the build user's, without its `.git`. */
export function buildpackTar(copy: BuildpackCopy): Readable {
  const prefix = path.posix.relative("/tmp", copy.dir);
  return packDirectory(copy.hostDir, { prefix, owner: { uid: BUILD_UID, gid: BUILD_UID }, skipTopLevel: [".git"] });
}

/**
 * The buildpacks into `<upperDir>/tmp/buildpacks`. On a failure nothing of them is left there (the
 * next build installs them as usual).
 */
export async function layBuildpacks(upperDir: string, copies: readonly BuildpackCopy[], signal: AbortSignal): Promise<void> {
  const tmp = path.join(upperDir, "tmp");
  const root = path.join(upperDir, BUILDPACKS_DIR.slice(1));
  try {
    await ownedFolder(root);
    for (const copy of copies) {
      if (path.posix.dirname(copy.dir) !== BUILDPACKS_DIR) throw new Error(`a buildpack's folder ${copy.dir} is not in ${BUILDPACKS_DIR}`);
      await untarIntoLayer(buildpackTar(copy), tmp, "a buildpack", signal);
    }
    // As the container's tar, run as the build user, would leave them: no set-id bits.
    await clearSetId(root);
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** ENV_DIR into `<upperDir>/tmp/env` (the folder as the stack image has it), then its key; on a failure it is left empty. */
export async function layEnv(upperDir: string, configVars: Readonly<Record<string, string>>, signal: AbortSignal): Promise<string> {
  const dir = path.join(upperDir, ENV_DIR.slice(1));
  try {
    await ownedFolder(dir);
    await untarIntoLayer(envTar(configVars), dir, "ENV_DIR", signal);
    return envKey(configVars);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A folder of the build user's, mode 0755, as the stack image's /tmp/env and /tmp/cache are. */
async function ownedFolder(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  await chown(dir, BUILD_UID, BUILD_UID);
}

function hashOf(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
