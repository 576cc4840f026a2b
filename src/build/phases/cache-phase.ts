import { chmod, chown, mkdir, readdir, rename, rm, rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { SlugforgeError } from "../../errors.js";
import { runProcess } from "../../util/run-process.js";
import type { BuildContext, InstalledBuildpack, Phase } from "../build-context.js";
import { BUILD_UID } from "../container-exec.js";

/** Where CACHE_DIRs are inside the build container: `/tmp/cache/<buildpack key>`. */
export const CACHE_ROOT = "/tmp/cache";

/**
 * CACHE_DIR per app and buildpack, kept on the host as a directory: `<cacheDir>/<app>/<key>/`.
 * Each build works on its own copy, `<cacheDir>/<app>/.work-<build id>/<key>/`, which the build
 * container sees through a bind mount at /tmp/cache (made when the container is, filled while the
 * source and the buildpacks go in). Only a build that has fully succeeded swaps its copy in for
 * the kept one (two renames), so a failed build never touches it; saving costs no copy at all.
 *
 * The host only ever copies, renames and deletes these trees (cp -a, rename, rm -r, none of which
 * follow the symbolic links a build may leave there); it never reads or runs what is in them. The
 * mount's top folder belongs to root, so a build cannot swap a key folder for a link.
 */
export function cacheWorkDir(ctx: BuildContext): string {
  return path.join(appCacheDir(ctx), `.work-${ctx.buildId}`);
}

/**
 * Makes this build's working folder (mounted at CACHE_ROOT) and starts copying the app's kept
 * caches into it. The copy is awaited by the restore phase; whatever it is, the folder goes with
 * the build (removeCacheWork).
 */
export async function startCacheWork(ctx: BuildContext): Promise<void> {
  const work = cacheWorkDir(ctx);
  await mkdir(work, { recursive: true, mode: 0o755 });
  await chmod(work, 0o755);
  ctx.cacheCopy = copyKeptCaches(ctx, work);
  ctx.cacheCopy.catch(() => undefined);
}

async function copyKeptCaches(ctx: BuildContext, work: string): Promise<void> {
  const dir = appCacheDir(ctx);
  const names = await readdir(dir, { withFileTypes: true }).catch(() => []);
  await Promise.all(
    names
      .filter((d) => d.isDirectory() && !d.name.startsWith("."))
      .map(async (d) => {
        const copied = await runProcess("cp", ["-a", "-T", path.join(dir, d.name), path.join(work, d.name)], { signal: ctx.signal });
        if (copied.code !== 0) {
          // Without its cache the build is only slower; say so in the log and start empty.
          ctx.log.warn({ buildpack: d.name, stderr: copied.stderr.slice(0, 2000) }, "copying the kept build cache failed; this build starts without it");
          await rm(path.join(work, d.name), { recursive: true, force: true });
        }
      }),
  );
}

export const cacheRestorePhase: Phase = {
  name: "cache-restore",
  async run(ctx) {
    if (!ctx.cacheCopy) throw new SlugforgeError("INTERNAL", `build ${ctx.buildId}: the cache folder was never made`);
    await ctx.cacheCopy;
    const work = cacheWorkDir(ctx);
    for (const bp of ctx.buildpacks) {
      const dir = path.join(work, bp.key);
      const restored = await stat(dir).then((s) => s.isDirectory(), () => false);
      if (!restored) {
        await mkdir(dir, { mode: 0o700 });
        await chown(dir, BUILD_UID, BUILD_UID);
      }
      ctx.log.debug({ buildpack: bp.key, restored }, "cache restored");
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

/** Puts this build's copy in the kept one's place; the old one is deleted afterwards. */
async function saveCache(ctx: BuildContext, bp: InstalledBuildpack): Promise<void> {
  ctx.signal.throwIfAborted();
  const kept = path.join(appCacheDir(ctx), bp.key);
  const old = path.join(appCacheDir(ctx), `.old-${ctx.buildId}-${bp.key}`);
  const hadOne = await rename(kept, old).then(() => true, (err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return false;
    throw err;
  });
  await rename(path.join(cacheWorkDir(ctx), bp.key), kept);
  if (hadOne) await rm(old, { recursive: true, force: true });
  // The tar file earlier versions kept instead.
  await rm(`${kept}.tar`, { force: true });
}

/** Deletes this build's working copy (what was not saved). */
export async function removeCacheWork(ctx: BuildContext): Promise<void> {
  if (ctx.cacheCopy) await ctx.cacheCopy.catch(() => undefined);
  await rm(cacheWorkDir(ctx), { recursive: true, force: true });
  // An app whose first build failed keeps nothing, not even an empty folder.
  await rmdir(appCacheDir(ctx)).catch(() => undefined);
}

/** Working copies and replaced caches a crashed process left behind: call at start, before builds. */
export async function sweepCacheWork(cacheDir: string): Promise<number> {
  let removed = 0;
  for (const app of await readdir(cacheDir).catch(() => [] as string[])) {
    for (const name of await readdir(path.join(cacheDir, app)).catch(() => [] as string[])) {
      if (name.startsWith(".work-") || name.startsWith(".old-")) {
        await rm(path.join(cacheDir, app, name), { recursive: true, force: true });
        removed++;
      }
    }
  }
  return removed;
}

function appCacheDir(ctx: BuildContext): string {
  return path.join(ctx.deps.cacheDir, ctx.request.app);
}
