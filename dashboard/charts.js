// Small SVG charts, made with DOM calls (no markup strings): phase bars and slug sizes.
import { formatBytes, formatMs, formatTime, h, s } from "./dom.js";

/** Phases a build records (src/builds/session.ts), in the order they run; each has its colour in dashboard.css. */
export const PHASES = ["app-json", "resolve", "inputs", "container", "source", "buildpacks", "env", "cache-restore", "compile", "release", "slug", "release-phase", "cache-save"];

const phaseClass = (name) => `phase phase-${PHASES.includes(name) ? name : "other"}`;

/**
 * One build's phases as one bar of coloured segments, its length against `scaleMs` (the longest
 * build in the list), so a slow build and its slow step stand out down a column of builds.
 */
export function phaseBar(phases, scaleMs, { width = 260, height = 14 } = {}) {
  const svg = s("svg", { class: "phase-bar", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  const total = phases.reduce((sum, p) => sum + p.ms, 0);
  svg.append(s("title", {}, phases.map((p) => `${p.phase} ${formatMs(p.ms)}`).join(", ") || "no phases recorded"));
  let x = 0;
  for (const p of phases) {
    const w = scaleMs > 0 ? (p.ms / scaleMs) * width : 0;
    if (w <= 0) continue;
    svg.append(s("rect", { class: phaseClass(p.phase), x: x.toFixed(2), y: 0, width: Math.max(w, 1).toFixed(2), height, "data-phase": p.phase }, s("title", {}, `${p.phase}: ${formatMs(p.ms)}`)));
    x += w;
  }
  if (total === 0) svg.append(s("rect", { class: "phase-empty", x: 0, y: height / 2 - 1, width, height: 2 }));
  return svg;
}

/** A legend for the phases that occur in `builds`. */
export function phaseLegend(builds) {
  const seen = new Set(builds.flatMap((b) => b.phases.map((p) => p.phase)));
  const names = [...PHASES.filter((n) => seen.has(n)), ...[...seen].filter((n) => !PHASES.includes(n))];
  return h("ul", { class: "legend" }, names.map((n) => h("li", {}, s("svg", { width: 10, height: 10, "aria-hidden": "true" }, s("rect", { class: phaseClass(n), width: 10, height: 10 })), n)));
}

/**
 * A build's phases one row each, as a timeline: every bar starts where the one before ended, and
 * its length is its share of the build, with the time beside it.
 */
export function phaseTimeline(phases, { width = 520, row = 18 } = {}) {
  const total = phases.reduce((sum, p) => sum + p.ms, 0);
  const label = 110;
  const value = 80;
  const barWidth = width - label - value;
  const svg = s("svg", { class: "phase-timeline", width, height: Math.max(1, phases.length) * row, role: "img" });
  svg.append(s("title", {}, `phases of the build, ${formatMs(total)} in all`));
  let start = 0;
  phases.forEach((p, i) => {
    const y = i * row;
    const x = label + (total > 0 ? (start / total) * barWidth : 0);
    const w = total > 0 ? Math.max((p.ms / total) * barWidth, 1) : 1;
    svg.append(
      s("g", { class: "phase-row", "data-phase": p.phase },
        s("text", { x: label - 8, y: y + row - 5, "text-anchor": "end", class: "label" }, p.phase),
        s("rect", { class: phaseClass(p.phase), x: x.toFixed(2), y: y + 3, width: w.toFixed(2), height: row - 6 }),
        s("text", { x: width - value + 6, y: y + row - 5, class: "value" }, formatMs(p.ms)),
      ),
    );
    start += p.ms;
  });
  return svg;
}

/**
 * The app's slug size at each release, oldest to newest: a line with a dot per release (the
 * version below it, the size and time in its tooltip). Releases without a slug are left out.
 */
export function sizeChart(points, { width = 560, height = 170 } = {}) {
  const pad = { left: 64, right: 16, top: 14, bottom: 30 };
  const svg = s("svg", { class: "size-chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  svg.append(s("title", {}, "slug size by release"));
  if (points.length === 0) {
    svg.append(s("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, "no slugs yet"));
    return svg;
  }
  const max = Math.max(...points.map((p) => p.sizeBytes), 1);
  const innerW = width - pad.left - pad.right;
  const innerH = height - pad.top - pad.bottom;
  const x = (i) => pad.left + (points.length === 1 ? innerW / 2 : (i / (points.length - 1)) * innerW);
  const y = (v) => pad.top + innerH - (v / max) * innerH;
  svg.append(
    s("line", { class: "axis", x1: pad.left, y1: pad.top + innerH, x2: width - pad.right, y2: pad.top + innerH }),
    s("line", { class: "axis", x1: pad.left, y1: pad.top, x2: pad.left, y2: pad.top + innerH }),
    s("text", { class: "tick", x: pad.left - 6, y: pad.top + 4, "text-anchor": "end" }, formatBytes(max)),
    s("text", { class: "tick", x: pad.left - 6, y: pad.top + innerH, "text-anchor": "end" }, "0"),
  );
  svg.append(s("polyline", { class: "size-line", points: points.map((p, i) => `${x(i).toFixed(1)},${y(p.sizeBytes).toFixed(1)}`).join(" ") }));
  points.forEach((p, i) => {
    svg.append(
      s("circle", { class: "size-dot", cx: x(i).toFixed(1), cy: y(p.sizeBytes).toFixed(1), r: 4, "data-version": p.version },
        s("title", {}, `v${p.version}: ${formatBytes(p.sizeBytes)}, ${formatTime(p.createdAt)}`)),
    );
    // Every version when they fit, else every few.
    const every = Math.ceil(points.length / 14);
    if (i % every === 0 || i === points.length - 1) svg.append(s("text", { class: "tick", x: x(i).toFixed(1), y: height - 10, "text-anchor": "middle" }, `v${p.version}`));
  });
  return svg;
}
