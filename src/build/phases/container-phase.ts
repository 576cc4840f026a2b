import type { Phase } from "../build-context.js";
import { BUILD_DIR, BUILD_LABEL, BUILD_USER, SERVER_LABEL } from "../container-exec.js";
import { openBuildContainer } from "./cache-phase.js";


/**
 * One fresh container per build from the stack's build image: unprivileged, capabilities
 * dropped, memory/CPU/pids capped, the operator's network and mounts, the app's caches in place
 * (cache-phase.ts: possibly a container prepared after the app's last build), labelled so strays left
 * by a crash are swept at start. Aborting the build (cancel, timeout) removes it at once, which
 * ends whatever runs inside; the pipeline removes it again in `finally` (remove is idempotent).
 */
export const containerPhase: Phase = {
  name: "container",
  async run(ctx) {
    const { config } = ctx.deps;
    const container = await openBuildContainer(ctx, {
      image: `slugforge/stack:${config.stack}-build`,
      name: `slugforge-build-${ctx.buildId}`,
      user: BUILD_USER,
      workdir: BUILD_DIR,
      network: config.buildNetwork,
      mounts: config.buildMounts.map((m) => ({ host: m.host, container: m.container, readOnly: m.readOnly })),
      memoryBytes: config.buildMemoryBytes,
      cpus: config.buildCpus,
      pidsLimit: config.buildPids,
      labels: { [BUILD_LABEL]: ctx.buildId, [SERVER_LABEL]: ctx.deps.serverId, "org.slugforge.app": ctx.request.app },
      hardened: true,
    });
    ctx.container = container;
    const onAbort = (): void => void container.remove().catch((err: unknown) => ctx.log.warn({ err }, "removing the build container failed"));
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });
    ctx.signal.throwIfAborted();
  },
};
