// The apps the principal may read.
import { api } from "./api.js";
import { formatTime, h, replace, seg } from "./dom.js";

export async function appsView(root, ctx) {
  const apps = await api.get("/apps", { signal: ctx.signal });
  replace(
    root,
    h("h1", {}, "Apps"),
    apps.length === 0
      ? h("p", { class: "empty" }, ctx.principal.kind === "admin" ? "No apps yet: the first `git push` with the admin token creates one." : "No apps.")
      : h(
          "table",
          { class: "list", id: "apps" },
          h("thead", {}, h("tr", {}, h("th", {}, "app"), h("th", {}, "created"), h("th", {}, ""))),
          h(
            "tbody",
            {},
            apps.map((app) =>
              h(
                "tr",
                { dataset: { app: app.name } },
                h("td", {}, h("a", { href: `#/apps/${seg(app.name)}` }, app.name)),
                h("td", {}, formatTime(app.createdAt)),
                h("td", { class: "links" }, h("a", { href: `#/apps/${seg(app.name)}/releases` }, "releases"), " ", h("a", { href: `#/apps/${seg(app.name)}/config` }, "config vars")),
              ),
            ),
          ),
        ),
  );
}
