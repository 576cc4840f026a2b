import { parseAppJson, type AppJson } from "../app-json.js";
import { readCommitFile } from "../git-source.js";
import type { SourceRef } from "../types.js";
import type { StepContext } from "./step.js";

/**
 * The commit's app.json, parsed (APP_JSON_INVALID when it is malformed), with a line in the build
 * output for what it asks that this server does not do: keys it ignores, another stack. Undefined
 * when the commit has none. Needs no container.
 */
export async function readAppJson(step: StepContext, source: SourceRef): Promise<AppJson | undefined> {
  const text = await readCommitFile(source, step.commit, "app.json", step.signal);
  if (text === undefined) return undefined;
  const manifest = parseAppJson(text);
  if (manifest.ignored.length > 0) step.out.step(`app.json: ignoring ${manifest.ignored.join(", ")} (not used by this build server)`);
  // Our one stack is what the app gets; a manifest written for Heroku names one of Heroku's.
  if (manifest.stack !== undefined && manifest.stack !== step.stack) {
    step.out.step(`app.json: stack "${manifest.stack}" is not this server's stack (${step.stack}); building on ${step.stack}`);
  }
  step.log.debug({ ignored: manifest.ignored, stack: manifest.stack }, "app.json read");
  return manifest;
}
