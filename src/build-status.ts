/**
 * A build's statuses, written once: the build service sets them, the store keeps them, the API
 * follows and counts them.
 */
export const BUILD_STATUSES = ["queued", "building", "succeeded", "failed", "cancelled"] as const;
export type BuildStatus = (typeof BUILD_STATUSES)[number];

/** Not finished yet: the API keeps following such a build's output; a restart marks it INTERRUPTED. */
export const ACTIVE_BUILD_STATUSES = ["queued", "building"] as const satisfies readonly BuildStatus[];
export type ActiveBuildStatus = (typeof ACTIVE_BUILD_STATUSES)[number];
export type FinishedBuildStatus = Exclude<BuildStatus, ActiveBuildStatus>;

export function isActiveBuild(status: BuildStatus | undefined): status is ActiveBuildStatus {
  return (ACTIVE_BUILD_STATUSES as readonly (BuildStatus | undefined)[]).includes(status);
}

export function isFinishedBuild(status: BuildStatus | undefined): status is FinishedBuildStatus {
  return status !== undefined && !isActiveBuild(status);
}
