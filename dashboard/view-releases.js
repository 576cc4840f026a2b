// An app's releases: slug sizes over time, and a rollback button for those who may deploy.
import { api } from "./api.js";
import { sizeChart } from "./charts.js";
import { formatBytes, formatTime, h, replace, seg, shortId } from "./dom.js";
import { appHeader } from "./view-app.js";

function rollbackControl(app, release, ctx, done) {
  const cell = h("td", { class: "actions" });
  const ask = () =>
    replace(
      cell,
      h("button", { type: "button", class: "rollback", dataset: { version: release.version }, onclick: confirm }, `Roll back to v${release.version}`),
    );
  // Two clicks, the second on a button that says what happens: a rollback is a deploy.
  function confirm() {
    replace(
      cell,
      h("button", { type: "button", class: "danger confirm-rollback", dataset: { version: release.version }, onclick: run }, `Deploy v${release.version}'s slug and config`),
      " ",
      h("button", { type: "button", class: "plain", onclick: ask }, "Cancel"),
    );
  }
  async function run() {
    for (const b of cell.querySelectorAll("button")) b.disabled = true;
    try {
      const made = await api.post(`/apps/${seg(app)}/releases`, { release: release.version }, { signal: ctx.signal });
      done(`Rolled back to v${release.version}: release v${made.version} is live.`);
    } catch (err) {
      ctx.showError(err);
      ask();
    }
  }
  ask();
  return cell;
}

function releasesTable(app, releases, slugs, ctx, reload) {
  if (releases.length === 0) return h("p", { class: "empty" }, "No releases yet: a successful build makes the first.");
  const canDeploy = ctx.can("deploy", app);
  const current = releases[0].version;
  return h(
    "table",
    { class: "list", id: "releases" },
    h("thead", {}, h("tr", {}, h("th", {}, "release"), h("th", {}, "description"), h("th", {}, "slug"), h("th", { class: "num" }, "size"), h("th", {}, "created"), canDeploy ? h("th", {}, "") : null)),
    h(
      "tbody",
      {},
      releases.map((r) => {
        const slug = r.slugId ? slugs.get(r.slugId) : undefined;
        return h(
          "tr",
          { dataset: { version: r.version } },
          h("td", {}, `v${r.version}`, r.version === current ? h("span", { class: "current" }, "current") : null),
          h("td", {}, r.description),
          h("td", { class: "mono" }, r.slugId ? shortId(r.slugId) : "–"),
          h("td", { class: "num" }, slug ? formatBytes(slug.sizeBytes) : "–"),
          h("td", {}, formatTime(r.createdAt)),
          canDeploy ? (r.version !== current && r.slugId ? rollbackControl(app, r, ctx, reload) : h("td", {})) : null,
        );
      }),
    ),
  );
}

export async function releasesView(root, ctx) {
  const app = ctx.params[0];
  const notice = h("p", { id: "release-notice", class: "notice", role: "status" });
  const body = h("div", { id: "releases-body" });
  replace(root, appHeader(app, "releases"), notice, body);
  const load = async (message) => {
    const [releases, slugList] = await Promise.all([api.get(`/apps/${seg(app)}/releases`, { signal: ctx.signal }), api.get(`/apps/${seg(app)}/slugs`, { signal: ctx.signal })]);
    const slugs = new Map(slugList.map((sl) => [sl.id, sl]));
    const points = [...releases]
      .reverse()
      .filter((r) => r.slugId && slugs.has(r.slugId))
      .map((r) => ({ version: r.version, sizeBytes: slugs.get(r.slugId).sizeBytes, createdAt: r.createdAt }));
    replace(notice, message ?? "");
    replace(body, h("h2", {}, "Slug size by release"), sizeChart(points), h("h2", {}, "Releases"), releasesTable(app, releases, slugs, ctx, (m) => load(m).catch(ctx.showError)));
  };
  await load();
}
