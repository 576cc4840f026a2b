import { randomBytes } from "node:crypto";
import { SlugforgeError } from "../errors.js";
import type { AppJsonEnvVar } from "./app-json.js";

/** A secret as app.json's `generator: "secret"` asks for one: 32 random bytes, in hex. */
export function makeSecret(): string {
  return randomBytes(32).toString("hex");
}

/**
 * The config vars app.json's `env` gives a new app: for each var it does not have yet, the
 * `value`, or a secret made now. A required var with neither, which the app does not have, is
 * CONFIG_REQUIRED (all of them named at once) and nothing is set. Vars the app has are left as
 * they are: whoever set them knew better than the manifest.
 */
export function newAppConfigVars(
  app: string,
  env: Readonly<Record<string, AppJsonEnvVar>>,
  current: Readonly<Record<string, string>>,
  secret: () => string = makeSecret,
): Record<string, string> {
  const set: Record<string, string> = {};
  const missing: string[] = [];
  for (const [name, spec] of Object.entries(env)) {
    if (name in current) continue;
    if (spec.value !== undefined) set[name] = spec.value;
    else if (spec.generator === "secret") set[name] = secret();
    else if (spec.required) missing.push(name);
  }
  if (missing.length > 0) {
    const described = missing.map((name) => (env[name]?.description ? `${name} (${env[name].description})` : name));
    throw new SlugforgeError(
      "CONFIG_REQUIRED",
      `app.json requires config var${missing.length === 1 ? "" : "s"} this app does not have: ${described.join(", ")}. ` +
        `Set ${missing.length === 1 ? "it" : "them"} with \`slugforge config:set ${app} ${missing.map((n) => `${n}=…`).join(" ")}\` and push again.`,
      { data: { missing } },
    );
  }
  return set;
}
