import { ENV_DIR, extractIntoBuild } from "../container-exec.js";
import { envFiles, envKey, envTar } from "../laid-inputs.js";
import type { StepContext } from "./step.js";

/**
 * ENV_DIR: one file per config var, mode 0600, owned by the build user. The values travel only
 * inside this tar (never on a command line, never in a log line). `laid`: the key of the ENV_DIR
 * the host put in a prepared container (laid-inputs.ts); the same config vars need no exec, other
 * ones replace it.
 */
export async function writeEnvDir(step: StepContext, configVars: Readonly<Record<string, string>>, laid?: string): Promise<void> {
  const names = envFiles(configVars);
  const skipped = Object.keys(configVars).filter((n) => !names.includes(n));
  if (skipped.length > 0) step.log.warn({ skipped }, "config vars with names that cannot be files were left out of ENV_DIR");
  if (laid !== undefined && laid === envKey(configVars)) {
    step.log.debug({ count: names.length }, "ENV_DIR laid in the prepared container already");
    return;
  }
  await extractIntoBuild(step, envTar(configVars), ENV_DIR, laid === undefined ? {} : { clear: ENV_DIR });
  step.log.debug({ count: names.length }, "ENV_DIR written");
}
