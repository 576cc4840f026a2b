// An app's page: its tabs, and the builds tab (status, duration, phase bars), refreshed while open.
import { api } from "./api.js";
import { phaseBar, phaseLegend } from "./charts.js";
import { ACTIVE_STATUSES, buildMs, formatMs, formatTime, h, replace, seg, shortId, statusBadge } from "./dom.js";

/** How often the list is asked again: often while a build runs, less when all are done. */
const REFRESH_MS = { active: 2000, idle: 5000 };

export function appNav(app, active) {
  const tab = (name, href, label) => h("a", { href, class: name === active ? "tab active" : "tab", "aria-current": name === active ? "page" : null }, label);
  return h(
    "nav",
    { class: "tabs" },
    tab("builds", `#/apps/${seg(app)}`, "Builds"),
    tab("releases", `#/apps/${seg(app)}/releases`, "Releases"),
    tab("config", `#/apps/${seg(app)}/config`, "Config vars"),
  );
}

export function appHeader(app, active) {
  return [h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Apps"), " / "), h("h1", {}, app), appNav(app, active)];
}

function buildsTable(builds) {
  if (builds.length === 0) return h("p", { class: "empty" }, "No builds yet: push to the app to start one.");
  const durations = builds.map((b) => buildMs(b) ?? 0);
  const phaseTotals = builds.map((b) => b.phases.reduce((sum, p) => sum + p.ms, 0));
  const scale = Math.max(1, ...phaseTotals);
  return [
    h(
      "table",
      { class: "list", id: "builds" },
      h("thead", {}, h("tr", {}, h("th", {}, "status"), h("th", {}, "build"), h("th", {}, "commit"), h("th", {}, "pushed by"), h("th", {}, "started"), h("th", { class: "num" }, "duration"), h("th", {}, "phases"))),
      h(
        "tbody",
        {},
        builds.map((b, i) =>
          h(
            "tr",
            { dataset: { buildId: b.id, status: b.status } },
            h("td", {}, statusBadge(b.status)),
            h("td", {}, h("a", { href: `#/builds/${seg(b.id)}`, class: "mono" }, shortId(b.id))),
            h("td", { class: "mono" }, b.commit.slice(0, 7)),
            h("td", {}, b.actor ?? "–"),
            h("td", {}, formatTime(b.createdAt)),
            h("td", { class: "num" }, formatMs(durations[i]), ACTIVE_STATUSES.has(b.status) ? "…" : ""),
            h("td", { class: "bar" }, phaseBar(b.phases, scale)),
          ),
        ),
      ),
    ),
    phaseLegend(builds),
  ];
}

export async function buildsView(root, ctx) {
  const app = ctx.params[0];
  const list = h("div", { id: "builds-list" });
  replace(root, appHeader(app, "builds"), list);
  // Refreshed while the tab is open, so a push shows up (and finishes) without a reload.
  while (!ctx.signal.aborted) {
    const builds = await api.get(`/apps/${seg(app)}/builds`, { signal: ctx.signal });
    replace(list, buildsTable(builds));
    await ctx.sleep(builds.some((b) => ACTIVE_STATUSES.has(b.status)) ? REFRESH_MS.active : REFRESH_MS.idle);
  }
}
