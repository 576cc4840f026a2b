import { parseBuildpackRef, type BuildpackRef } from "../buildpacks/buildpack-ref.js";
import { SlugforgeError, isSlugforgeError } from "../errors.js";
import { CONFIG_VAR_NAME_RULE, isConfigVarName } from "../names.js";

/*
 * Heroku's app manifest (https://devcenter.heroku.com/articles/app-json-schema), the part a build
 * server can honour: `buildpacks`, `env` (for a new app), `stack` (checked against ours) and
 * `scripts.postdeploy`. Everything else is named in a note and left alone. docs/app-json.md says
 * what each key does here.
 */

/** One `env` entry: a default value, a generated secret, or a var the app must be given. */
export interface AppJsonEnvVar {
  readonly value?: string;
  readonly generator?: "secret";
  /** Heroku's default: required unless a value or a generator gives one. */
  readonly required: boolean;
  readonly description?: string;
}

export interface AppJson {
  /** As `.buildpacks` would name them; absent when app.json names none. */
  readonly buildpacks?: readonly BuildpackRef[];
  readonly env: Readonly<Record<string, AppJsonEnvVar>>;
  readonly stack?: string;
  /** The command run once, after the app's first release. */
  readonly postdeploy?: string;
  /** Keys read but not used here (`addons`, `scripts.pr-predestroy`, `env.X.order`...), for the build output. */
  readonly ignored: readonly string[];
}

const TOP_LEVEL = new Set(["buildpacks", "env", "stack", "scripts"]);
const ENV_FIELDS = new Set(["value", "generator", "required", "description"]);

/**
 * Parses app.json's text into what a build uses, or throws APP_JSON_INVALID naming every field
 * that is wrong (not only the first), each by its path: `env.SECRET_KEY.generator must be "secret"`.
 */
export function parseAppJson(text: string): AppJson {
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (err) {
    throw invalid([`not valid JSON (${jsonErrorPlace(text, (err as Error).message)})`]);
  }
  if (!isObject(doc)) throw invalid(["the file must hold a JSON object ({ ... })"]);
  const errors: string[] = [];
  const ignored = Object.keys(doc).filter((k) => !TOP_LEVEL.has(k));
  const buildpacks = doc.buildpacks === undefined ? undefined : parseBuildpacks(doc.buildpacks, errors);
  const env = doc.env === undefined ? {} : parseEnv(doc.env, errors, ignored);
  let stack: string | undefined;
  if (doc.stack !== undefined) {
    if (typeof doc.stack === "string" && doc.stack.trim() !== "") stack = doc.stack.trim();
    else errors.push("stack must be a string naming a stack");
  }
  const postdeploy = doc.scripts === undefined ? undefined : parseScripts(doc.scripts, errors, ignored);
  if (errors.length > 0) throw invalid(errors);
  return { buildpacks: buildpacks?.length ? buildpacks : undefined, env, stack, postdeploy, ignored };
}

function parseBuildpacks(value: unknown, errors: string[]): BuildpackRef[] {
  if (!Array.isArray(value)) {
    errors.push('buildpacks must be an array of objects with a "url" ([{"url": "heroku/python"}])');
    return [];
  }
  const refs: BuildpackRef[] = [];
  value.forEach((entry: unknown, i) => {
    const url = isObject(entry) ? entry.url : undefined;
    if (typeof url !== "string" || url.trim() === "") {
      errors.push(`buildpacks[${i}].url must be a string naming a buildpack (a name or a https:// or file:// git URL)`);
      return;
    }
    try {
      refs.push(parseBuildpackRef(url));
    } catch (err) {
      if (!isSlugforgeError(err)) throw err;
      errors.push(`buildpacks[${i}].url: ${err.message}`);
    }
  });
  return refs;
}

function parseEnv(value: unknown, errors: string[], ignored: string[]): Record<string, AppJsonEnvVar> {
  if (!isObject(value)) {
    errors.push('env must be an object of config vars ({"NAME": {"value": "..."}} or {"NAME": "..."})');
    return {};
  }
  const env: Record<string, AppJsonEnvVar> = {};
  for (const [name, entry] of Object.entries(value)) {
    const at = `env.${name}`;
    if (!isConfigVarName(name)) errors.push(`${at}: "${name}" is not a valid config var name (${CONFIG_VAR_NAME_RULE})`);
    // Heroku's short form: "NAME": "value".
    if (typeof entry === "string") {
      env[name] = { value: entry, required: false };
      continue;
    }
    if (!isObject(entry)) {
      errors.push(`${at} must be a string or an object with "value", "generator", "required" or "description"`);
      continue;
    }
    const before = errors.length;
    const field = <T>(key: string, ok: (v: unknown) => v is T, what: string): T | undefined => {
      const v = entry[key];
      if (v === undefined) return undefined;
      if (ok(v)) return v;
      errors.push(`${at}.${key} must be ${what}`);
      return undefined;
    };
    const fieldValue = field("value", isString, "a string");
    const generator = field("generator", (v): v is "secret" => v === "secret", '"secret"');
    const required = field("required", isBoolean, "true or false");
    const description = field("description", isString, "a string");
    for (const key of Object.keys(entry)) if (!ENV_FIELDS.has(key)) ignored.push(`${at}.${key}`);
    if (errors.length > before) continue;
    env[name] = {
      value: fieldValue,
      generator,
      required: required ?? (fieldValue === undefined && generator === undefined),
      description,
    };
  }
  return env;
}

function parseScripts(value: unknown, errors: string[], ignored: string[]): string | undefined {
  if (!isObject(value)) {
    errors.push('scripts must be an object ({"postdeploy": "command"})');
    return undefined;
  }
  for (const key of Object.keys(value)) if (key !== "postdeploy") ignored.push(`scripts.${key}`);
  const postdeploy = value.postdeploy;
  if (postdeploy === undefined) return undefined;
  // Heroku also takes {"command": "...", "size": "..."}; a build server has no dyno sizes.
  const command = isObject(postdeploy) ? postdeploy.command : postdeploy;
  if (isObject(postdeploy)) for (const key of Object.keys(postdeploy)) if (key !== "command") ignored.push(`scripts.postdeploy.${key}`);
  if (typeof command !== "string" || command.trim() === "") {
    errors.push(`scripts.postdeploy${isObject(postdeploy) ? ".command" : ""} must be a command (a non-empty string)`);
    return undefined;
  }
  return command;
}

/** JSON.parse's message with the place as a line and column, which an editor can go to. */
function jsonErrorPlace(text: string, message: string): string {
  const m = /at position (\d+)/.exec(message);
  // V8 quotes the whole text in some messages; the file could be large.
  if (!m) return message.replace(/, ".*" is not valid JSON$/s, "");
  const before = text.replace(/^\uFEFF/, "").slice(0, Number(m[1]));
  const lines = before.split("\n");
  const line = lines.length;
  const column = (lines.at(-1)?.length ?? 0) + 1;
  return `${message.replace(/\s*\(line \d+ column \d+\)/, "").replace(/ in JSON at position \d+$/, "")} at line ${line}, column ${column}`;
}

function invalid(errors: readonly string[]): SlugforgeError {
  const lines = errors.map((e) => `app.json: ${e}`);
  return new SlugforgeError("APP_JSON_INVALID", lines.join("; "), { data: { errors: lines } });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isString(v: unknown): v is string {
  return typeof v === "string";
}

function isBoolean(v: unknown): v is boolean {
  return typeof v === "boolean";
}
