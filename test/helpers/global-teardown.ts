import { createDockerRuntime } from "../../src/docker/dockerode-runtime.js";

/**
 * vitest global setup: after every test file has run, removes the containers whose slugforge
 * process is gone (test workers that ended with build services they never closed). Containers of
 * other live processes on the engine are left alone.
 */
export default function setup(): () => Promise<void> {
  return async () => {
    await createDockerRuntime().sweepOrphans().catch(() => 0);
  };
}
