// One build: what it is, its phases as a timeline, and its output, followed live while it runs.
import { api, streamOutput } from "./api.js";
import { phaseTimeline } from "./charts.js";
import { ACTIVE_STATUSES, buildMs, formatMs, formatTime, h, replace, seg, shortId, statusBadge } from "./dom.js";
import { createTerminal } from "./terminal.js";

function facts(build) {
  const row = (label, ...value) => [h("dt", {}, label), h("dd", {}, ...value)];
  return h(
    "dl",
    { class: "facts" },
    row("status", statusBadge(build.status)),
    row("commit", h("span", { class: "mono" }, build.commit)),
    row("pushed by", build.actor ?? "–"),
    row("started", formatTime(build.createdAt)),
    row("duration", formatMs(buildMs(build)), ACTIVE_STATUSES.has(build.status) ? " so far" : ""),
    row("buildpacks", build.buildpacks.length ? build.buildpacks.join(", ") : "–"),
    build.slugId ? row("slug", h("span", { class: "mono" }, shortId(build.slugId))) : null,
    build.errorCode ? row("error", h("span", { class: "error-code" }, build.errorCode), build.errorMessage ? ` ${build.errorMessage}` : "") : null,
  );
}

export async function buildView(root, ctx) {
  const id = ctx.params[0];
  const build = await api.get(`/builds/${seg(id)}`, { signal: ctx.signal });
  const summary = h("div", { id: "build-summary" });
  const phases = h("div", { id: "build-phases" });
  const following = h("p", { id: "follow-state", class: "follow" });
  const pre = h("pre", { id: "output", class: "terminal", tabindex: "0" });
  const show = (b) => {
    replace(summary, facts(b));
    replace(phases, b.phases.length ? phaseTimeline(b.phases) : h("p", { class: "empty" }, ACTIVE_STATUSES.has(b.status) ? "Phase times appear when the build ends." : "No phases recorded."));
  };
  replace(
    root,
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Apps"), " / ", h("a", { href: `#/apps/${seg(build.app)}` }, build.app), " / "),
    h("h1", {}, "Build ", h("span", { class: "mono" }, shortId(build.id))),
    summary,
    h("h2", {}, "Phases"),
    phases,
    h("h2", {}, "Output"),
    following,
    pre,
  );
  show(build);

  const live = ACTIVE_STATUSES.has(build.status);
  replace(following, live ? "Following the build live…" : "");
  following.classList.toggle("live", live);
  const terminal = createTerminal(pre);
  await streamOutput(id, (text) => terminal.feed(text), ctx.signal);
  if (ctx.signal.aborted) return;
  // The stream ends with the build: show how it ended.
  const done = await api.get(`/builds/${seg(id)}`, { signal: ctx.signal });
  show(done);
  following.classList.remove("live");
  replace(following, live ? `The build ended: ${done.status}.` : "");
}
