import type { LaidSlug } from "../../slug/laid-slug.js";
import type { ResolvedBuildpack } from "../../buildpacks/resolve-buildpacks.js";
import type { Logger } from "../../log.js";
import type { BuildPrinter } from "../build-printer.js";
import type { InContainer } from "../container-exec.js";

/** What every step of a build works with: the container (with the step's signal), the pusher's output, the log. */
export interface StepContext extends InContainer {
  readonly out: BuildPrinter;
  readonly log: Logger;
  /**
   * The container's writable layer as this host sees it (layer mode on a local engine), for reads
   * that need no round trip through the engine. The stack images' /app is empty, so the layer
   * holds all of the build's /app, unless it was laid beneath it (laidBelow).
   */
  readonly upperDir?: string;
  /**
   * Set when a prepared container's /app was laid beneath upperDir (LaidSource.below): upperDir
   * then holds only what the build changed in it, and /app whole is read at `merged`, the
   * container's mounted root (through the engine without it).
   */
  readonly laidBelow?: { readonly merged?: string };
  /** /app's slug tar as the host laid it before the build (layer mode, a prepared container), once it is read. */
  readonly laidSlug?: Promise<LaidSlug | undefined>;
}

/**
 * Where the host reads the build's /app as it is now: the upper layer, which holds all of it, or
 * the mounted root where /app was laid beneath that layer (undefined: through the engine only).
 */
export function appRootOf(step: StepContext): string | undefined {
  return step.laidBelow ? step.laidBelow.merged : step.upperDir;
}

/** A buildpack copied into the build container. */
export interface InstalledBuildpack extends ResolvedBuildpack {
  /** `/tmp/buildpacks/<index>-<name>` inside the container. */
  readonly dir: string;
  /** `/tmp/cache/<key>` inside the container. */
  readonly cacheDir: string;
}

/** bin/detect's stdout and stderr are kept up to these sizes. */
export const DETECT_STDOUT_BYTES = 1024 * 1024;
export const DETECT_STDERR_BYTES = 64 * 1024;

/** What one bin/detect run ahead (in the source step's exec) gave. */
export type DetectedAhead = Omit<Detection, "buildpack">;

/** One bin/detect that ran. */
export interface Detection {
  readonly buildpack: string;
  readonly exitCode: number;
  /** What bin/detect printed on stdout (the app type's name, by the contract). */
  readonly stdout: string;
  /** What it printed on stderr (an explanation, when it says no), up to 64 KiB. */
  readonly stderr: string;
}
