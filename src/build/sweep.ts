import type { ContainerRuntime } from "../docker/container-runtime.js";
import type { Logger } from "../log.js";
import { BUILD_LABEL } from "./phases/container-phase.js";

/**
 * Removes build containers a previous server process left behind (it crashed or was killed
 * mid-build). Call once at start, before taking pushes: any labelled container is a stray then.
 */
export async function sweepStrayContainers(runtime: ContainerRuntime, log: Logger): Promise<number> {
  const ids = await runtime.listContainers(BUILD_LABEL);
  for (const id of ids) {
    await runtime.removeContainer(id);
    log.warn({ container: id }, "removed a stray build container");
  }
  return ids.length;
}
