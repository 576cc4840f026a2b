import { SlugforgeError } from "../errors.js";

/** A buildpack as an app names it: a shipped one by name, or a git URL with an optional `#ref`. */
export type BuildpackRef =
  | { readonly kind: "shipped"; readonly name: string; readonly spec: string }
  | { readonly kind: "git"; readonly url: string; readonly ref: string | undefined; readonly spec: string };

const SHIPPED_NAME = /^[a-z0-9][a-z0-9._-]*$/;
const GIT_SCHEMES = ["https:", "http:", "file:"];

/** Parses one entry of BUILDPACK_URL or `.buildpacks`; refuses other URL schemes (no `ext::`, no ssh). */
export function parseBuildpackRef(spec: string): BuildpackRef {
  const trimmed = spec.trim();
  const notFound = (why: string): SlugforgeError =>
    new SlugforgeError("BUILDPACK_NOT_FOUND", `buildpack "${trimmed}": ${why}`, { data: { buildpack: trimmed } });
  if (!trimmed.includes(":")) {
    // Heroku's names for its own buildpacks (heroku/python) map onto the shipped ones.
    const name = trimmed.replace(/^heroku\//, "");
    if (!SHIPPED_NAME.test(name)) throw notFound("not a buildpack name or a https:// or file:// git URL");
    return { kind: "shipped", name, spec: trimmed };
  }
  const hash = trimmed.indexOf("#");
  const url = hash === -1 ? trimmed : trimmed.slice(0, hash);
  const ref = hash === -1 ? undefined : trimmed.slice(hash + 1);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw notFound("not a valid URL");
  }
  if (!GIT_SCHEMES.includes(parsed.protocol)) throw notFound(`the ${parsed.protocol} scheme is not supported (use https:// or file://)`);
  if (ref !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(ref)) throw notFound(`"#${ref}" is not a valid git ref`);
  return { kind: "git", url, ref: ref || undefined, spec: trimmed };
}

/** `.buildpacks`: one buildpack a line; blank lines and `#` comments skipped. */
export function parseBuildpacksFile(text: string): BuildpackRef[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map(parseBuildpackRef);
}
