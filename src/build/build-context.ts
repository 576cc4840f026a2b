import type { ResolvedBuildpack, BuildpackResolver } from "../buildpacks/resolve-buildpacks.js";
import type { ReleaseInfo } from "../buildpacks/release-yaml.js";
import type { Config } from "../config/parse-config.js";
import type { Container, ContainerRuntime, ContainerSpec } from "../docker/container-runtime.js";
import type { Logger } from "../log.js";
import type { SlugStore } from "../slug/slug-store.js";
import type { DiskGuard } from "../util/disk-space.js";
import type { BuildPrinter } from "./build-printer.js";
import type { BuildRequest } from "./types.js";

/** What the pipeline needs from the rest of the server; the composition root supplies it. */
export interface PipelineDeps {
  readonly runtime: ContainerRuntime;
  readonly config: Pick<Config, "stack" | "buildTimeoutMs" | "buildNetwork" | "buildMounts" | "buildMemoryBytes" | "buildCpus" | "buildPids" | "maxSlugBytes">;
  readonly buildpacks: BuildpackResolver;
  readonly getConfigVars: (app: string) => Promise<Record<string, string>>;
  /** Labels this server's build containers, so a sweep never touches another server's builds on a shared engine. */
  readonly serverId: string;
  /** Where slugs go. */
  readonly slugStore: SlugStore;
  /** `<dataDir>/cache`: `<app>/<buildpack key>/` per app and buildpack (see cache-phase.ts). */
  readonly cacheDir: string;
  /** Whether any build runs or waits: background cache work waits meanwhile. */
  readonly busy?: () => boolean;
  /** Refuses to write a slug (STORAGE_FULL) while the data folder's disk is under its reserve. */
  readonly disk?: DiskGuard;
}

export interface BuiltSlug {
  readonly sha256: string;
  readonly sizeBytes: number;
  /** The slug store's id (`sha256:<hex>`). */
  readonly id: string;
}

/** A buildpack copied into the build container. */
export interface InstalledBuildpack extends ResolvedBuildpack {
  /** `/tmp/buildpacks/<index>-<name>` inside the container. */
  readonly dir: string;
  /** `/tmp/cache/<key>` inside the container. */
  readonly cacheDir: string;
}

/** One build's state as it moves through the phases; each phase reads what earlier ones set. */
export interface BuildContext {
  readonly buildId: string;
  readonly request: BuildRequest;
  readonly out: BuildPrinter;
  /** Aborted on cancel or timeout. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly deps: PipelineDeps;
  configVars: Record<string, string>;
  container?: Container;
  buildpacks: InstalledBuildpack[];
  processTypes: Record<string, string>;
  slug?: BuiltSlug;
  /** The commit's time (from git archive's entries): slug mtimes are clamped to it. */
  sourceDate?: Date;
  /** How this build gets its caches (cache-phase.ts), once the container phase has decided. */
  cache?: CacheState;
  /** Wall time of each phase that ran. */
  phases: { phase: string; ms: number }[];
  /**
   * Buildpacks chosen by the caller (`slugforge buildpack test`): used in this order instead of
   * the app's or the shipped ones, and, as with the app's own list, each must accept the app.
   */
  namedBuildpacks?: readonly ResolvedBuildpack[];
  /** Each bin/detect that ran, in order (kept so tools can check the detect contract). */
  detections?: Detection[];
  /** What the last buildpack's bin/release printed, once the release phase has run. */
  release?: ReleaseInfo;
}

/** See cache-phase.ts: the caches are in the container's own layer, or in a mounted folder. */
export type CacheState =
  | { mode: "layer"; spec: ContainerSpec; layerDir?: string; save?: boolean }
  | { mode: "mount"; workDir: string; copying: Promise<void> };

export interface Detection {
  readonly buildpack: string;
  readonly exitCode: number;
  /** What bin/detect printed on stdout (the app type's name, by the contract). */
  readonly stdout: string;
}

export interface Phase {
  readonly name: string;
  run(ctx: BuildContext): Promise<void>;
}

/** The container a phase needs; a phase that runs before it exists is a bug. */
export function containerOf(ctx: BuildContext): Container {
  if (!ctx.container) throw new Error(`build ${ctx.buildId}: no build container yet`);
  return ctx.container;
}
