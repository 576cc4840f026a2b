import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import path from "node:path";
import { parseBuildpackRef } from "../buildpacks/buildpack-ref.js";
import { createBuildpackResolver, type ResolvedBuildpack } from "../buildpacks/resolve-buildpacks.js";

/**
 * The buildpacks under test: a local directory is used as it is on disk (uncommitted changes
 * included, its .git left out); anything else goes through build/'s resolver as BUILDPACK_URL
 * would (a git URL with an optional #ref, fetched into `gitCacheDir`).
 */
export async function resolveBuildpackArgs(args: readonly string[], gitCacheDir: string, signal?: AbortSignal): Promise<ResolvedBuildpack[]> {
  const resolver = createBuildpackResolver({ shippedDir: path.join(gitCacheDir, "none"), shippedOrder: [], gitCacheDir });
  const out: ResolvedBuildpack[] = [];
  for (const arg of args) {
    const local = await stat(arg).catch(() => undefined);
    if (local) out.push(await localBuildpack(arg));
    else if (arg.includes("://")) out.push(...(await resolver.resolve([parseBuildpackRef(arg)], signal)));
    else throw new Error(`${arg}: no such directory, and not a git URL (https:// or file://, with an optional #ref)`);
  }
  return out;
}

async function localBuildpack(arg: string): Promise<ResolvedBuildpack> {
  const hostDir = path.resolve(arg);
  const missing: string[] = [];
  for (const program of ["detect", "compile"]) {
    const ok = await stat(path.join(hostDir, "bin", program)).then((s) => s.isFile() && (s.mode & 0o111) !== 0, () => false);
    if (!ok) missing.push(`bin/${program}`);
  }
  if (missing.length > 0) throw new Error(`${arg}: not a buildpack (no executable ${missing.join(" or ")})`);
  const name = path.basename(hostDir).replace(/[^A-Za-z0-9._-]/g, "-").toLowerCase() || "buildpack";
  // The path names the cache, so two checkouts of the same buildpack never share one.
  const key = `${name}-${createHash("sha256").update(hostDir).digest("hex").slice(0, 8)}`;
  return { name, key, hostDir, spec: arg };
}
