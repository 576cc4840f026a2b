import { BUILD_STATUSES } from "../build-status.js";
import type { StoreStats } from "../store/types.js";

/** A build engine as the API and /metrics show it (the engine pool's status, in the API's own type). */
export interface EngineReport {
  readonly url: string;
  readonly primary: boolean;
  readonly state: "up" | "loading" | "down";
  readonly running: number;
  readonly since: string;
  readonly lastError: string | undefined;
}

const BUCKETS_S = [10, 30, 60, 120, 300, 600, 900, 1800];

/** Prometheus text format: builds by status, build duration histogram, queue depth, slug bytes. */
export function renderMetrics(stats: StoreStats, queueDepth: number, cacheCopies = 0, engines: readonly EngineReport[] = []): string {
  const lines: string[] = [
    "# HELP slugforge_builds_total Builds by status.",
    "# TYPE slugforge_builds_total counter",
  ];
  for (const status of BUILD_STATUSES) {
    lines.push(`slugforge_builds_total{status="${status}"} ${stats.buildsByStatus[status] ?? 0}`);
  }
  lines.push("# HELP slugforge_build_duration_seconds Wall time of finished builds.", "# TYPE slugforge_build_duration_seconds histogram");
  for (const le of BUCKETS_S) {
    lines.push(`slugforge_build_duration_seconds_bucket{le="${le}"} ${stats.buildDurationsS.filter((d) => d <= le).length}`);
  }
  lines.push(`slugforge_build_duration_seconds_bucket{le="+Inf"} ${stats.buildDurationsS.length}`);
  lines.push(`slugforge_build_duration_seconds_sum ${stats.buildDurationsS.reduce((a, b) => a + b, 0).toFixed(3)}`);
  lines.push(`slugforge_build_duration_seconds_count ${stats.buildDurationsS.length}`);
  lines.push("# HELP slugforge_build_queue_depth Builds waiting for a slot.", "# TYPE slugforge_build_queue_depth gauge", `slugforge_build_queue_depth ${queueDepth}`);
  lines.push(
    "# HELP slugforge_cache_copies_pending Background work on build caches after builds (saving, copying for the next build of their app, clean-up) queued or running.",
    "# TYPE slugforge_cache_copies_pending gauge",
    `slugforge_cache_copies_pending ${cacheCopies}`,
  );
  lines.push("# HELP slugforge_slug_bytes Compressed bytes of slugs stored.", "# TYPE slugforge_slug_bytes gauge", `slugforge_slug_bytes ${stats.slugBytes}`);
  if (engines.length > 0) {
    const label = (e: EngineReport): string => `engine="${e.url.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
    lines.push("# HELP slugforge_engine_up Whether a build engine answers and takes builds (1), or not (0: down, or its stack images are being copied).", "# TYPE slugforge_engine_up gauge");
    for (const e of engines) lines.push(`slugforge_engine_up{${label(e)}} ${e.state === "up" ? 1 : 0}`);
    lines.push("# HELP slugforge_engine_builds_running Builds running on each build engine.", "# TYPE slugforge_engine_builds_running gauge");
    for (const e of engines) lines.push(`slugforge_engine_builds_running{${label(e)}} ${e.running}`);
  }
  return `${lines.join("\n")}\n`;
}
