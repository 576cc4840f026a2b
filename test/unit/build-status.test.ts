import { expect, it } from "vitest";
import { renderMetrics } from "../../src/api/metrics.js";
import { ACTIVE_BUILD_STATUSES, BUILD_STATUSES, isActiveBuild, isFinishedBuild } from "../../src/build-status.js";

it("splits the statuses into active and finished; an unknown build is neither", () => {
  expect(BUILD_STATUSES.filter(isActiveBuild)).toEqual([...ACTIVE_BUILD_STATUSES]);
  expect(BUILD_STATUSES.filter(isFinishedBuild)).toEqual(["succeeded", "failed", "cancelled"]);
  expect([isActiveBuild(undefined), isFinishedBuild(undefined)]).toEqual([false, false]);
});

it("counts every status in /metrics, zero included", () => {
  const text = renderMetrics({ buildsByStatus: { failed: 2 }, buildDurationsS: [], slugBytes: 0 }, 0);
  for (const status of BUILD_STATUSES) expect(text).toContain(`slugforge_builds_total{status="${status}"} ${status === "failed" ? 2 : 0}\n`);
});
