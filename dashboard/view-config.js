// An app's config vars. Values are the admin's only (the API refuses them to scoped tokens), and
// shown one at a time, when asked: the page is often on a shared screen.
import { api } from "./api.js";
import { h, replace, seg } from "./dom.js";
import { appHeader } from "./view-app.js";

const MASK = "••••••••";

function valueCell(name, value) {
  const shown = h("span", { class: "secret masked" }, MASK);
  const button = h("button", { type: "button", class: "plain reveal", "aria-label": `Show the value of ${name}` }, "Show");
  let visible = false;
  button.addEventListener("click", () => {
    visible = !visible;
    replace(shown, visible ? value : MASK);
    shown.classList.toggle("masked", !visible);
    replace(button, visible ? "Hide" : "Show");
    button.setAttribute("aria-label", `${visible ? "Hide" : "Show"} the value of ${name}`);
  });
  return h("td", {}, shown, " ", button);
}

export async function configView(root, ctx) {
  const app = ctx.params[0];
  if (ctx.principal.kind !== "admin") {
    // A scoped token sees the names, from the current release, and never a value.
    const [current] = await api.get(`/apps/${seg(app)}/releases`, { signal: ctx.signal });
    const names = current?.configVars ?? [];
    replace(
      root,
      appHeader(app, "config"),
      h("p", { class: "note" }, "Config var values are shown to the admin token only. The current release has these:"),
      names.length ? h("ul", { class: "names", id: "config-names" }, names.map((n) => h("li", { class: "mono" }, n))) : h("p", { class: "empty" }, "none"),
    );
    return;
  }
  const vars = await api.get(`/apps/${seg(app)}/config-vars`, { signal: ctx.signal });
  const names = Object.keys(vars).sort();
  replace(
    root,
    appHeader(app, "config"),
    names.length === 0
      ? h("p", { class: "empty" }, "No config vars. `slugforge config:set` sets them.")
      : h(
          "table",
          { class: "list", id: "config" },
          h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "value"))),
          h("tbody", {}, names.map((n) => h("tr", { dataset: { name: n } }, h("td", { class: "mono" }, n), valueCell(n, vars[n])))),
        ),
  );
}
