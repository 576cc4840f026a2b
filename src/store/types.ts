import type { ErrorCode } from "../errors.js";
import type { BuildStatus } from "../build/types.js";

export interface AppRecord {
  readonly name: string;
  readonly createdAt: string;
}

export interface PhaseTiming {
  readonly phase: string;
  readonly ms: number;
}

export interface BuildRecord {
  readonly id: string;
  readonly app: string;
  readonly commit: string;
  readonly status: BuildStatus;
  readonly errorCode: ErrorCode | "INTERRUPTED" | null;
  readonly errorMessage: string | null;
  readonly buildpacks: readonly string[];
  readonly phases: readonly PhaseTiming[];
  readonly slugId: string | null;
  readonly createdAt: string;
  readonly finishedAt: string | null;
}

export interface SlugRecord {
  readonly id: string;
  readonly app: string;
  readonly sizeBytes: number;
  readonly commit: string;
  readonly buildpacks: readonly string[];
  readonly stack: string;
  readonly processTypes: Readonly<Record<string, string>>;
  readonly createdAt: string;
}

export interface ReleaseRecord {
  readonly app: string;
  readonly version: number;
  readonly slugId: string | null;
  readonly config: Readonly<Record<string, string>>;
  readonly processTypes: Readonly<Record<string, string>>;
  readonly description: string;
  readonly createdAt: string;
}

export interface BuildUpdate {
  readonly status?: BuildStatus;
  readonly errorCode?: ErrorCode | null;
  readonly errorMessage?: string | null;
  readonly buildpacks?: readonly string[];
  readonly phases?: readonly PhaseTiming[];
  readonly slugId?: string | null;
}

/** Metadata: apps, config vars, builds with their output, slugs and releases. */
export interface MetadataStore {
  createApp(name: string): AppRecord;
  /** Creates the app when it does not exist yet (a first push). */
  ensureApp(name: string): AppRecord;
  getApp(name: string): AppRecord | undefined;
  listApps(): AppRecord[];
  deleteApp(name: string): boolean;

  getConfigVars(app: string): Record<string, string>;
  /** Sets (string) and unsets (null) vars in one transaction; makes a release when one changed and the app has a slug. */
  updateConfigVars(app: string, changes: Readonly<Record<string, string | null>>): { config: Record<string, string>; release?: ReleaseRecord };

  createBuild(build: { id: string; app: string; commit: string }): BuildRecord;
  updateBuild(id: string, update: BuildUpdate): BuildRecord;
  getBuild(id: string): BuildRecord | undefined;
  listBuilds(app: string): BuildRecord[];
  appendBuildOutput(id: string, chunk: Buffer): void;
  /** Output chunks after a sequence number (for following a running build). */
  readBuildOutput(id: string, afterSeq?: number): { seq: number; chunk: Buffer }[];
  /**
   * Marks builds left running by a killed server as failed (INTERRUPTED); returns how many. Only
   * builds created before `before` (this process's start, ISO time) when given: later ones are ours.
   */
  failInterruptedBuilds(before?: string): number;

  putSlug(slug: SlugRecord): void;
  getSlug(id: string): SlugRecord | undefined;
  listSlugs(app: string): SlugRecord[];

  /** A succeeded build's release: vN on its slug with a snapshot of the config vars. */
  createDeployRelease(app: string, slugId: string, processTypes: Readonly<Record<string, string>>, description: string): ReleaseRecord;
  rollback(app: string, version: number): ReleaseRecord;
  listReleases(app: string): ReleaseRecord[];
  getRelease(app: string, version: number): ReleaseRecord | undefined;

  stats(): StoreStats;

  /** Runs `fn` in one transaction: every change it makes is kept, or none (nested calls join it). */
  transaction<T>(fn: () => T): T;

  close(): void;
}

export interface StoreStats {
  readonly buildsByStatus: Readonly<Record<string, number>>;
  /** Wall times of finished builds, in seconds. */
  readonly buildDurationsS: readonly number[];
  readonly slugBytes: number;
}
