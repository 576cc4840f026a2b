import { PREVIEW_PORT, PUBLISH_FLAG } from "../util/preview-port.js";
import { relativeTime } from "./format.js";
import type { Style } from "./style.js";
import { formatPairs } from "./table.js";

/** What `open` shows: the current release and the commands that run it, those that exist today. */
export interface HowToRun {
  readonly app: string;
  readonly version: number;
  readonly description: string;
  readonly createdAt: string;
  readonly slugId: string | null;
  /** Release images are newer than releases: older records have none (absent or null). */
  readonly image: { readonly name: string; readonly digest: string } | null;
  /** `web` when the release declares it, else its first process type; null when it declares none. */
  readonly process: string | null;
  /** `slugforge run APP web --port 8080`: the local preview. */
  readonly preview: string | null;
  /** `docker run --rm -p 8080:5000 IMAGE web`, when the release has an image. */
  readonly docker: string | null;
}

export function howToRun(name: string, release: Readonly<Record<string, unknown>>): HowToRun {
  const image = imageOf(release.image);
  const types = Object.keys((release.processTypes as Record<string, string> | undefined) ?? {});
  const type = types.includes("web") ? "web" : (types[0] ?? null);
  const web = type === "web";
  return {
    app: name,
    version: Number(release.version),
    description: String(release.description ?? ""),
    createdAt: String(release.createdAt ?? ""),
    slugId: typeof release.slugId === "string" ? release.slugId : null,
    image,
    process: type,
    preview: type ? `slugforge run ${name} ${type}${web ? ` --port ${PREVIEW_PORT}` : ""}` : null,
    docker: image && type ? `docker run --rm ${web ? `${PUBLISH_FLAG} ` : ""}${image.name} ${type}` : null,
  };
}

export function formatHowToRun(run: HowToRun, style: Style): string {
  const pairs: [string, string][] = [
    ["Change", run.description],
    ["When", relativeTime(run.createdAt)],
    ["Slug", run.slugId ?? "none"],
    ["Image", run.image ? `${run.image.name}${run.image.digest ? ` (${run.image.digest})` : ""}` : "none (this release has no image)"],
    ["Process", run.process ?? "none: the release declares no process types (add a Procfile)"],
  ];
  const lines = [formatPairs(`${run.app} v${run.version}`, pairs, style)];
  if (run.docker) lines.push("", "Run it with Docker:", `  ${style.cyan(run.docker)}`);
  if (run.preview) lines.push("", "Preview it locally (until Ctrl-C):", `  ${style.cyan(run.preview)}`);
  return lines.join("\n");
}

/** A release record's image, when it has one with a name (records from before images have none). */
function imageOf(value: unknown): HowToRun["image"] {
  if (!value || typeof value !== "object") return null;
  const { name, digest } = value as { name?: unknown; digest?: unknown };
  return typeof name === "string" && name ? { name, digest: typeof digest === "string" ? digest : "" } : null;
}
