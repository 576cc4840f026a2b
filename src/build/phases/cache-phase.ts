import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { packEntries } from "../../slug/tar-pack.js";
import type { BuildContext, InstalledBuildpack, Phase } from "../build-context.js";
import { archiveFromBuild, BUILD_UID, extractIntoBuild } from "../container-exec.js";

/**
 * CACHE_DIR per app and buildpack. The host keeps each as the tar Docker gave us
 * (`<cacheDir>/<app>/<key>.tar`): restored into the container before compile, and replaced
 * (temp file, fsync, rename) only after a build has fully succeeded, so a failed build never
 * touches it. Keeping the tar rather than unpacking it on the host means files made by a build
 * (symlinks, odd modes) are never written into the host's filesystem.
 */
export const cacheRestorePhase: Phase = {
  name: "cache-restore",
  async run(ctx) {
    for (const bp of ctx.buildpacks) {
      const file = cacheFile(ctx, bp);
      const exists = await stat(file).then((s) => s.isFile(), () => false);
      const dir = { name: `${path.posix.basename(bp.cacheDir)}/`, type: "directory" as const, mode: 0o700 };
      const tar = exists ? createReadStream(file) : packEntries([dir], { uid: BUILD_UID, gid: BUILD_UID });
      await extractIntoBuild(ctx, tar, path.posix.dirname(bp.cacheDir));
      ctx.log.debug({ buildpack: bp.key, restored: exists }, "cache restored");
    }
  },
};

export const cacheSavePhase: Phase = {
  name: "cache-save",
  async run(ctx) {
    for (const bp of ctx.buildpacks) {
      try {
        await saveCache(ctx, bp);
      } catch (err) {
        // The slug is made; a cache that could not be kept only makes the next build slower.
        if (ctx.signal.aborted) throw err;
        ctx.log.warn({ err, buildpack: bp.key }, "saving the build cache failed; the previous one is kept");
      }
    }
  },
};

async function saveCache(ctx: BuildContext, bp: InstalledBuildpack): Promise<void> {
  const file = cacheFile(ctx, bp);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomUUID()}`;
  try {
    const tar = archiveFromBuild(ctx, bp.cacheDir);
    await pipeline(tar, createWriteStream(tmp, { flags: "wx", mode: 0o600 }), { signal: ctx.signal });
    const handle = await open(tmp, "r+");
    await handle.sync().finally(() => handle.close());
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}

function cacheFile(ctx: BuildContext, bp: InstalledBuildpack): string {
  return path.join(ctx.deps.cacheDir, ctx.request.app, `${bp.key}.tar`);
}
