import { BUILD_STATUSES } from "../build-status.js";
import type { StoreStats } from "../store/types.js";

const BUCKETS_S = [10, 30, 60, 120, 300, 600, 900, 1800];

/** Prometheus text format: builds by status, build duration histogram, queue depth, slug bytes. */
export function renderMetrics(stats: StoreStats, queueDepth: number, cacheCopies = 0): string {
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
    "# HELP slugforge_cache_copies_pending Build caches being copied in the background for the next build of their app.",
    "# TYPE slugforge_cache_copies_pending gauge",
    `slugforge_cache_copies_pending ${cacheCopies}`,
  );
  lines.push("# HELP slugforge_slug_bytes Compressed bytes of slugs stored.", "# TYPE slugforge_slug_bytes gauge", `slugforge_slug_bytes ${stats.slugBytes}`);
  return `${lines.join("\n")}\n`;
}
