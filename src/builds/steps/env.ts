import { packEntries } from "../../slug/tar-pack.js";
import { BUILD_UID, ENV_DIR, extractIntoBuild } from "../container-exec.js";
import type { StepContext } from "./step.js";
import { CONFIG_VAR_NAME as NAME } from "../../names.js";

/**
 * ENV_DIR: one file per config var, mode 0600, owned by the build user. The values travel only
 * inside this tar (never on a command line, never in a log line).
 */
export async function writeEnvDir(step: StepContext, configVars: Readonly<Record<string, string>>): Promise<void> {
  const names = Object.keys(configVars).filter((n) => NAME.test(n)).sort();
  const skipped = Object.keys(configVars).filter((n) => !NAME.test(n));
  if (skipped.length > 0) step.log.warn({ skipped }, "config vars with names that cannot be files were left out of ENV_DIR");
  const tar = packEntries(
    names.map((n) => ({ name: n, type: "file" as const, mode: 0o600, content: configVars[n] ?? "" })),
    { uid: BUILD_UID, gid: BUILD_UID },
  );
  await extractIntoBuild(step, tar, ENV_DIR);
  step.log.debug({ count: names.length }, "ENV_DIR written");
}
