import { formatSize } from "../../slug/format-size.js";
import { storeSlug, writeSlug } from "../../slug/slug-writer.js";
import { containerOf, type Phase } from "../build-context.js";
import { BUILD_DIR } from "../container-exec.js";

/** /app leaves the container as a tar stream and becomes a content-addressed slug. */
export const slugPhase: Phase = {
  name: "slug",
  async run(ctx) {
    ctx.out.step("Compressing...");
    const tar = await containerOf(ctx).getArchive(BUILD_DIR);
    const { slugStore, slugsDir, config } = ctx.deps;
    const limits = { maxBytes: config.maxSlugBytes, signal: ctx.signal, clampMtime: ctx.sourceDate };
    if (slugStore) {
      const stored = await storeSlug(tar, slugStore, limits);
      ctx.slug = { sha256: stored.sha256, sizeBytes: stored.sizeBytes, id: stored.id };
    } else {
      const file = await writeSlug(tar, { ...limits, slugsDir });
      ctx.slug = { sha256: file.sha256, sizeBytes: file.size, path: file.path };
    }
    ctx.out.detail(`Done: ${formatSize(ctx.slug.sizeBytes)}`);
    ctx.log.info({ sha256: ctx.slug.sha256, bytes: ctx.slug.sizeBytes, id: ctx.slug.id }, "slug written");
  },
};
