import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import path from "node:path";
import { SlugforgeError } from "../errors.js";
import type { BuildpackRef } from "./buildpack-ref.js";
import { fetchGitBuildpack } from "./git-buildpack.js";

/** A buildpack ready to copy into a build container. */
export interface ResolvedBuildpack {
  /** Short name for paths and messages: `python`, or a git URL's repository name. */
  readonly name: string;
  /** Stable per buildpack across builds: names its cache directory. */
  readonly key: string;
  /** The buildpack on the host (read, never written). */
  readonly hostDir: string;
  /** As the app or the operator named it. */
  readonly spec: string;
  /** For git buildpacks: the commit used. */
  readonly commit?: string;
}

export interface BuildpackResolverOptions {
  /** Where the shipped buildpacks live: `<dir>/<name>/bin/...`. */
  readonly shippedDir: string;
  /** Shipped buildpacks tried in this order when the app names none. */
  readonly shippedOrder: readonly string[];
  /** `<dataDir>/buildpacks`: git checkouts. */
  readonly gitCacheDir: string;
  /**
   * Folders under which `file://` buildpacks may be (the operator's SLUGFORGE_BUILDPACK_ROOTS);
   * undefined allows any (a buildpack author's own `slugforge buildpack test`, run by the operator).
   */
  readonly fileRoots?: readonly string[];
}

export interface BuildpackResolver {
  /** The shipped buildpacks, in detect order (missing ones are skipped). */
  shipped(): Promise<ResolvedBuildpack[]>;
  /** The app's own list: shipped names or git URLs; a missing one is BUILDPACK_NOT_FOUND. */
  resolve(refs: readonly BuildpackRef[], signal?: AbortSignal): Promise<ResolvedBuildpack[]>;
}

export function createBuildpackResolver(options: BuildpackResolverOptions): BuildpackResolver {
  const shippedOne = async (name: string, spec: string): Promise<ResolvedBuildpack | undefined> => {
    const hostDir = path.join(options.shippedDir, name);
    const ok = await stat(path.join(hostDir, "bin")).then((s) => s.isDirectory(), () => false);
    return ok ? { name, key: name, hostDir, spec } : undefined;
  };
  return {
    async shipped() {
      const found = await Promise.all(options.shippedOrder.map((n) => shippedOne(n, n)));
      return found.filter((b): b is ResolvedBuildpack => b !== undefined);
    },
    async resolve(refs, signal) {
      const out: ResolvedBuildpack[] = [];
      for (const ref of refs) {
        if (ref.kind === "shipped") {
          const bp = await shippedOne(ref.name, ref.spec);
          if (!bp) {
            throw new SlugforgeError("BUILDPACK_NOT_FOUND", `no buildpack named "${ref.spec}" (shipped: ${options.shippedOrder.join(", ") || "none"})`, {
              data: { buildpack: ref.spec },
            });
          }
          out.push(bp);
          continue;
        }
        if (options.fileRoots) checkFileRoots(ref, options.fileRoots);
        const fetched = await fetchGitBuildpack(ref.url, ref.ref, { cacheDir: options.gitCacheDir, signal });
        const hasBin = await stat(path.join(fetched.dir, "bin")).then((s) => s.isDirectory(), () => false);
        if (!hasBin) throw new SlugforgeError("BUILDPACK_NOT_FOUND", `${ref.spec} has no bin/ directory: not a buildpack`, { data: { buildpack: ref.spec } });
        const name = repoName(ref.url);
        const key = `${name}-${createHash("sha256").update(ref.url).digest("hex").slice(0, 8)}`;
        out.push({ name, key, hostDir: fetched.dir, spec: ref.spec, commit: fetched.commit });
      }
      return out;
    },
  };
}

/**
 * A `file://` buildpack must lie under one of the operator's roots, judged on the path as written
 * (after the URL's own `..` and escapes are resolved), before anything on disk is looked at: the
 * answer is the same for a path that exists and one that does not, so an app cannot probe the
 * host's folders, and other apps' repositories on the server can never be named.
 */
function checkFileRoots(ref: Extract<BuildpackRef, { kind: "git" }>, roots: readonly string[]): void {
  const url = new URL(ref.url);
  if (url.protocol !== "file:") return;
  let target: string;
  try {
    target = path.resolve(decodeURIComponent(url.pathname));
  } catch {
    target = "";
  }
  const inside = target !== "" && !target.includes("\0") && url.host === "" && roots.some((r) => target === path.resolve(r) || target.startsWith(path.resolve(r) + path.sep));
  if (!inside) {
    throw new SlugforgeError(
      "BUILDPACK_NOT_FOUND",
      `buildpack "${ref.spec}": file:// buildpacks are only taken from the folders the operator allows (SLUGFORGE_BUILDPACK_ROOTS); name a shipped buildpack or an https:// git URL`,
      { data: { buildpack: ref.spec } },
    );
  }
}

function repoName(url: string): string {
  const last = new URL(url).pathname.split("/").filter(Boolean).pop() ?? "buildpack";
  return last.replace(/\.git$/, "").replace(/[^A-Za-z0-9._-]/g, "-").toLowerCase() || "buildpack";
}
