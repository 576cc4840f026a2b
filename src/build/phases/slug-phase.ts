import { formatSize } from "../../slug/format-size.js";
import { storeSlug } from "../../slug/slug-writer.js";
import { containerOf, type Phase } from "../build-context.js";
import { BUILD_DIR } from "../container-exec.js";

/** /app leaves the container as a tar stream and becomes a content-addressed slug. */
export const slugPhase: Phase = {
  name: "slug",
  async run(ctx) {
    ctx.out.step("Compressing...");
    const tar = await containerOf(ctx).getArchive(BUILD_DIR);
    const { slugStore, config } = ctx.deps;
    const stored = await storeSlug(tar, slugStore, { maxBytes: config.maxSlugBytes, signal: ctx.signal, clampMtime: ctx.sourceDate });
    ctx.slug = { sha256: stored.sha256, sizeBytes: stored.sizeBytes, id: stored.id };
    ctx.out.detail(`Done: ${formatSize(ctx.slug.sizeBytes)}`);
    ctx.log.info({ sha256: ctx.slug.sha256, bytes: ctx.slug.sizeBytes, id: ctx.slug.id }, "slug written");
  },
};
