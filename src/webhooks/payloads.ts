import type { BuildRecord, ReleaseRecord } from "../store/types.js";

/** A release's OCI image, once releases have one (issue 14, item 3): its name and manifest digest. */
export interface ReleaseImage {
  readonly name: string;
  readonly digest: string;
}

/** What made a release: a push's build, a config change, a rollback. */
export type ReleaseKind = "deploy" | "config" | "rollback";

/** The body of a `release` event. Never the config vars: they hold the app's secrets. */
export interface ReleasePayload {
  readonly event: "release";
  readonly app: string;
  /** When the release was made. */
  readonly createdAt: string;
  readonly release: {
    readonly version: number;
    readonly kind: ReleaseKind;
    readonly description: string;
    readonly slugId: string | null;
    /** The commit the release's slug was built from. */
    readonly commit: string | null;
    /** The build that made this release (a deploy); null for a config change or rollback. */
    readonly buildId: string | null;
    /** The release's image; null until releases have images. */
    readonly image: ReleaseImage | null;
    readonly processTypes: Readonly<Record<string, string>>;
  };
}

/** The body of a `build` event: a build that finished, whatever its status. */
export interface BuildPayload {
  readonly event: "build";
  readonly app: string;
  /** When the build finished. */
  readonly createdAt: string;
  readonly build: {
    readonly id: string;
    readonly status: BuildRecord["status"];
    /** The error's code only: its message can quote build output. */
    readonly errorCode: string | null;
    readonly commit: string;
    readonly slugId: string | null;
    /** The release the build made; null when it made none (failed, cancelled, a dry run). */
    readonly releaseVersion: number | null;
    /** Built for `git push -o dry-run`: kept, never released. */
    readonly dryRun: boolean;
    /** Who pushed: `admin` or a scoped token's id. */
    readonly actor: string | null;
  };
}

export interface ReleaseFacts {
  readonly kind: ReleaseKind;
  readonly commit: string | null;
  readonly buildId?: string | null;
  /**
   * The hook for release images: whoever knows the release's image passes it here. Until
   * releases have images (issue 14, item 3), nobody does and the payload says `image: null`.
   */
  readonly image?: ReleaseImage | null;
}

export function releasePayload(release: ReleaseRecord, facts: ReleaseFacts): ReleasePayload {
  return {
    event: "release",
    app: release.app,
    createdAt: release.createdAt,
    release: {
      version: release.version,
      kind: facts.kind,
      description: release.description,
      slugId: release.slugId,
      commit: facts.commit,
      buildId: facts.buildId ?? null,
      image: facts.image ? { name: facts.image.name, digest: facts.image.digest } : null,
      processTypes: release.processTypes,
    },
  };
}

export function buildPayload(build: BuildRecord, facts: { readonly releaseVersion?: number | null; readonly dryRun?: boolean } = {}): BuildPayload {
  return {
    event: "build",
    app: build.app,
    createdAt: build.finishedAt ?? build.createdAt,
    build: {
      id: build.id,
      status: build.status,
      errorCode: build.errorCode,
      commit: build.commit,
      slugId: build.slugId,
      releaseVersion: facts.releaseVersion ?? null,
      dryRun: facts.dryRun ?? false,
      actor: build.actor,
    },
  };
}
