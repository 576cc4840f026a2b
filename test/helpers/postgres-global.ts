import { makeRunFolder, removeCluster, RUN_FOLDER_VARIABLE } from "./postgres.js";

/**
 * vitest global setup: names the folder of the run's PostgreSQL cluster for the test workers (the
 * first test that needs it starts it there: postgres.ts), and stops and removes it once every test
 * file has run, also after failures and crashed workers.
 */
export default function setup(): () => Promise<void> {
  const dir = makeRunFolder();
  process.env[RUN_FOLDER_VARIABLE] = dir;
  return () => removeCluster(dir);
}
