import { parse } from "yaml";
import { SlugforgeError } from "../errors.js";

/** What a buildpack's `bin/release` may print (Heroku Buildpack API). */
export interface ReleaseInfo {
  readonly addons: readonly string[];
  readonly configVars: Readonly<Record<string, string>>;
  readonly defaultProcessTypes: Readonly<Record<string, string>>;
}

const ALLOWED_KEYS = ["addons", "config_vars", "default_process_types"];

/** Parses and checks `bin/release` output; anything but the documented mapping is RELEASE_INVALID. */
export function parseReleaseYaml(text: string, buildpack: string): ReleaseInfo {
  const invalid = (why: string): SlugforgeError =>
    new SlugforgeError("RELEASE_INVALID", `bin/release of ${buildpack} printed invalid YAML: ${why}`, { data: { buildpack } });
  if (text.trim() === "") return { addons: [], configVars: {}, defaultProcessTypes: {} };
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw invalid((err as Error).message.split("\n")[0] ?? "unparseable");
  }
  if (doc === null || doc === undefined) return { addons: [], configVars: {}, defaultProcessTypes: {} };
  if (!isMapping(doc)) throw invalid("expected a mapping with addons, config_vars and default_process_types");
  const unknown = Object.keys(doc).filter((k) => !ALLOWED_KEYS.includes(k));
  if (unknown.length > 0) throw invalid(`unknown key(s) ${unknown.join(", ")} (allowed: ${ALLOWED_KEYS.join(", ")})`);

  const addons = doc.addons ?? [];
  if (!Array.isArray(addons) || !addons.every((a) => typeof a === "string")) throw invalid("addons must be a list of names");
  return {
    addons,
    configVars: stringMap(doc.config_vars, "config_vars", invalid),
    defaultProcessTypes: stringMap(doc.default_process_types, "default_process_types", invalid),
  };
}

function stringMap(value: unknown, key: string, invalid: (why: string) => SlugforgeError): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) throw invalid(`${key} must be a mapping`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string") out[k] = v;
    else if (typeof v === "number" || typeof v === "boolean") out[k] = String(v);
    else throw invalid(`${key}.${k} must be a string`);
  }
  return out;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
