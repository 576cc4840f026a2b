import type { ContainerRuntime } from "../docker/container-runtime.js";
import type { Logger } from "../log.js";
import { BUILD_LABEL, SERVER_LABEL } from "./container-exec.js";

/**
 * Removes build containers a previous process of this server left behind (it crashed or was
 * killed mid-build). Call once at start, before taking pushes: any container labelled with this
 * server's id is a stray then. Other servers sharing the engine (other data dirs) are untouched.
 */
export async function sweepStrayContainers(runtime: ContainerRuntime, serverId: string, log: Logger): Promise<number> {
  const ids = await runtime.listContainers(`${SERVER_LABEL}=${serverId}`);
  for (const id of ids) {
    await runtime.removeContainer(id);
    log.warn({ container: id, label: BUILD_LABEL }, "removed a stray build container");
  }
  return ids.length;
}
