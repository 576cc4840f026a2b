// DOM helpers. Every piece of text reaches the page as a text node or an attribute value, never as
// markup: app names, commit messages and build output are other people's text.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) {
      // Handlers are functions only: an on* attribute would be inline script (and the CSP refuses it).
      if (typeof value !== "function") throw new TypeError(`${key} must be a function`);
      el.addEventListener(key.slice(2), value);
    }
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

/** An HTML element: h("a", { href: "#/" }, "text", child, ...). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

/** An SVG element, as h. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

const UNITS = ["B", "KB", "MB", "GB"];

export function formatBytes(n) {
  if (typeof n !== "number") return "–";
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

export function formatMs(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

export function formatTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** A build's wall time: from its record's creation to its end, or to now while it runs. */
export function buildMs(build) {
  const start = Date.parse(build.createdAt);
  const end = build.finishedAt ? Date.parse(build.finishedAt) : Date.now();
  return Number.isFinite(start) && Number.isFinite(end) ? Math.max(0, end - start) : undefined;
}

/** Enough of an id to tell it apart in a list: a slug's first 12 hex digits, a build's first 8. */
export function shortId(id) {
  if (typeof id !== "string") return "–";
  if (id.startsWith("sha256:")) return `sha256:${id.slice(7, 19)}`;
  return /^[0-9a-f]{8}-/.test(id) ? id.slice(0, 8) : id.slice(0, 12);
}

export const ACTIVE_STATUSES = new Set(["queued", "building"]);

export function statusBadge(status) {
  return h("span", { class: `status status-${/^[a-z]+$/.test(status) ? status : "unknown"}` }, status);
}

/** A path segment for the API or a link, from a name or id. */
export const seg = encodeURIComponent;
