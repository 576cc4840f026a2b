import type { BuildContext, Phase } from "./build-context.js";
import { buildpacksPhase } from "./phases/buildpacks-phase.js";
import { cacheRestorePhase, cacheSavePhase, finishBuildCaches } from "./phases/cache-phase.js";
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

/**
 * Runs the phases in order; whatever happens the container goes (a build that saved its cache in
 * the container's layer hands it to the background, which saves the cache and then removes it).
 */
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
    await finishBuildCaches(ctx, ctx.container).catch((err: unknown) => ctx.log.warn({ err }, "cleaning up after the build failed"));
  }
}
