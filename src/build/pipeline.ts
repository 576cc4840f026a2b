import type { BuildContext, Phase } from "./build-context.js";
import { buildpacksPhase } from "./phases/buildpacks-phase.js";
import { cacheRestorePhase, cacheSavePhase, removeCacheWork } from "./phases/cache-phase.js";
import { compilePhase } from "./phases/compile-phase.js";
import { containerPhase } from "./phases/container-phase.js";
import { envPhase } from "./phases/env-phase.js";
import { releasePhase } from "./phases/release-phase.js";
import { slugPhase } from "./phases/slug-phase.js";
import { sourcePhase } from "./phases/source-phase.js";

/** The build, phase by phase. The cache is saved last: only a build that made its slug keeps it. */
export const PHASES: readonly Phase[] = [
  containerPhase,
  sourcePhase,
  buildpacksPhase,
  envPhase,
  cacheRestorePhase,
  compilePhase,
  releasePhase,
  slugPhase,
  cacheSavePhase,
];

/** Runs the phases in order; the container and the build's cache folder go whatever happens. */
export async function runPipeline(ctx: BuildContext, phases: readonly Phase[] = PHASES): Promise<void> {
  try {
    for (const phase of phases) {
      ctx.signal.throwIfAborted();
      const started = Date.now();
      try {
        await phase.run(ctx);
      } finally {
        ctx.phases.push({ phase: phase.name, ms: Date.now() - started });
      }
      ctx.log.debug({ phase: phase.name, ms: Date.now() - started }, "phase done");
    }
    ctx.signal.throwIfAborted();
  } finally {
    if (ctx.container) {
      await ctx.container.remove().catch((err: unknown) => ctx.log.error({ err, container: ctx.container?.id }, "could not remove the build container"));
    }
    if (ctx.cacheCopy) await removeCacheWork(ctx).catch((err: unknown) => ctx.log.warn({ err }, "could not remove the build's cache folder"));
  }
}
