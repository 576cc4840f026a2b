import { createDockerRuntime } from "../../src/docker/dockerode-runtime.js";
import { PREPARED_LABEL } from "../../src/build/phases/cache-phase.js";

/**
 * vitest global setup: after every test file has run, removes the containers build services made
 * ahead of time for apps' next builds (cache-phase.ts) and that no test closed.
 */
export default function setup(): () => Promise<void> {
  return async () => {
    const runtime = createDockerRuntime();
    const ids = await runtime.listContainers(PREPARED_LABEL).catch(() => [] as string[]);
    await Promise.all(ids.map((id) => runtime.removeContainer(id).catch(() => undefined)));
  };
}
