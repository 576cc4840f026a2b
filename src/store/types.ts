import type { ErrorCode } from "../errors.js";
import type { BuildStatus } from "../build-status.js";
import type { NodeStore } from "./node-types.js";
import type { WebhookStore } from "./webhook-types.js";

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
  /** Who pushed: `admin` or a scoped token's id; null for builds from before tokens were recorded. */
  readonly actor: string | null;
  /** The key of the build's inputs (builds/build-inputs.ts); null for older builds and those that stopped early. */
  readonly inputsKey: string | null;
  /** The node (SLUGFORGE_NODE_ID) that ran the build; null for builds from before nodes were recorded. */
  readonly node: string | null;
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
  /** The release's OCI image once it is made (src/images); null before, and when images are off. */
  readonly image: ReleaseImage | null;
  /** Why the last attempt to make the image failed, while it is retried; null otherwise. */
  readonly imageError: string | null;
}

/** Where a release's image is: `<registry>/<app>:vN` and its manifest digest, or `slugforge/app-<app>:vN` and its image id in the engine. */
export interface ReleaseImage {
  readonly name: string;
  readonly digest: string;
}

export interface BuildUpdate {
  readonly status?: BuildStatus;
  readonly errorCode?: ErrorCode | null;
  readonly errorMessage?: string | null;
  readonly buildpacks?: readonly string[];
  readonly phases?: readonly PhaseTiming[];
  readonly slugId?: string | null;
  readonly inputsKey?: string | null;
}

/** `read`: the app's builds, slugs, releases and activity; `deploy`: that, pushes and rollbacks. */
export type TokenScope = "deploy" | "read";

/** A scoped API token as anyone may see it: never its secret or the secret's hash. */
export interface TokenRecord {
  readonly id: string;
  readonly app: string;
  readonly scope: TokenScope;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

/** A token as the authenticator needs it. */
export interface StoredToken extends TokenRecord {
  /** sha256 of the token's secret, hex. */
  readonly secretSha256: string;
}

export type ActivityAction =
  | "app.create" | "app.delete" | "config" | "rollback" | "push" | "release" | "token.create" | "token.revoke" | "webhook.create" | "webhook.delete";

/** One change to an app and who made it. Kept after the app is deleted (an audit trail must outlive it). */
export interface ActivityRecord {
  readonly id: number;
  readonly app: string;
  /** `admin` or a scoped token's id. */
  readonly actor: string;
  readonly action: ActivityAction;
  /** A short line: what was set, which release, which build. Never a config var's value. */
  readonly detail: string;
  readonly at: string;
}

/** A change about to be made; the detail may depend on what the change returned (a release's version). */
export interface ActivityEntry<T> {
  readonly app: string;
  readonly actor: string;
  readonly action: ActivityAction;
  readonly detail: string | ((result: T) => string);
}

/**
 * Metadata: apps, config vars, builds with their output, slugs and releases, tokens and activity,
 * webhooks. In SQLite in the data folder, or in PostgreSQL shared by several nodes.
 */
export interface MetadataStore extends MetadataTx {
  close(): Promise<void>;
}

/** What a transaction's work is given: the store's calls, on the transaction's connection. */
export interface MetadataTx extends WebhookStore, NodeStore {
  createApp(name: string): Promise<AppRecord>;
  /** Creates the app when it does not exist yet (a first push). */
  ensureApp(name: string): Promise<AppRecord>;
  getApp(name: string): Promise<AppRecord | undefined>;
  listApps(): Promise<AppRecord[]>;
  deleteApp(name: string): Promise<boolean>;

  getConfigVars(app: string): Promise<Record<string, string>>;
  /** Sets (string) and unsets (null) vars in one transaction; makes a release when one changed and the app has a slug. */
  updateConfigVars(app: string, changes: Readonly<Record<string, string | null>>): Promise<{ config: Record<string, string>; release?: ReleaseRecord }>;

  createBuild(build: { id: string; app: string; commit: string; actor?: string; node?: string }): Promise<BuildRecord>;
  updateBuild(id: string, update: BuildUpdate): Promise<BuildRecord>;
  getBuild(id: string): Promise<BuildRecord | undefined>;
  listBuilds(app: string): Promise<BuildRecord[]>;
  /** The app's newest succeeded build with these inputs whose slug it still has, with that slug. */
  findBuildWithInputs(app: string, inputsKey: string): Promise<{ build: BuildRecord; slug: SlugRecord } | undefined>;
  appendBuildOutput(id: string, chunk: Buffer): Promise<void>;
  /** Output chunks after a sequence number (for following a running build). */
  readBuildOutput(id: string, afterSeq?: number): Promise<{ seq: number; chunk: Buffer }[]>;

  putSlug(slug: SlugRecord): Promise<void>;
  /** The slug's record; with `app`, that app's record of it (equal bytes are shared between apps). */
  getSlug(id: string, app?: string): Promise<SlugRecord | undefined>;
  listSlugs(app: string): Promise<SlugRecord[]>;

  /** A succeeded build's release: vN on its slug with a snapshot of the config vars. */
  createDeployRelease(app: string, slugId: string, processTypes: Readonly<Record<string, string>>, description: string): Promise<ReleaseRecord>;
  rollback(app: string, version: number): Promise<ReleaseRecord>;
  listReleases(app: string): Promise<ReleaseRecord[]>;
  getRelease(app: string, version: number): Promise<ReleaseRecord | undefined>;
  /** Keeps a release's image once made (the error cleared), or the error of a failed attempt (the image kept as it was). */
  setReleaseImage(app: string, version: number, outcome: { image: ReleaseImage } | { error: string }): Promise<ReleaseRecord | undefined>;
  /** Releases whose last image attempt failed and that have no image yet, oldest first (retried after a restart). */
  listReleasesAwaitingImage(): Promise<ReleaseRecord[]>;

  stats(): Promise<StoreStats>;

  /**
   * Runs `fn` in one transaction on one connection: every change it makes through `tx` is kept, or
   * none. `fn` must use `tx`, never this store (on SQLite that waits for the transaction to end: it
   * never would), and run its calls one after another. A transaction inside one (tx.transaction) is a
   * savepoint: its failure undoes its own changes only.
   */
  transaction<T>(fn: (tx: MetadataTx) => Promise<T>): Promise<T>;

  createToken(token: { id: string; app: string; scope: TokenScope; secretSha256: string }): Promise<TokenRecord>;
  /** A token with its secret's hash, revoked ones included: the caller refuses those. */
  findToken(id: string): Promise<StoredToken | undefined>;
  /** Every token (of one app), revoked ones included, oldest first. */
  listTokens(app?: string): Promise<TokenRecord[]>;
  /** Marks a token revoked for good; the first revocation's time stays. Undefined for an unknown id. */
  revokeToken(id: string): Promise<TokenRecord | undefined>;
  /** Notes that a token was used now. */
  touchToken(id: string): Promise<void>;

  /** Runs a change (through `tx`, as in transaction()) and adds it to the app's activity in one transaction: both happen, or neither. */
  recordActivity<T>(entry: ActivityEntry<T>, apply: (tx: MetadataTx) => Promise<T>): Promise<T>;
  /** An app's activity, newest first; `since` (an ISO time) leaves out what came before it. */
  listActivity(app: string, since?: string): Promise<ActivityRecord[]>;
}

export interface StoreStats {
  readonly buildsByStatus: Readonly<Record<string, number>>;
  /** Wall times of finished builds, in seconds. */
  readonly buildDurationsS: readonly number[];
  readonly slugBytes: number;
}
