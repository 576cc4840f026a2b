import { formatSize } from "../../slug/format-size.js";
import { writeSlug } from "../../slug/slug-writer.js";
import { containerOf, type Phase } from "../build-context.js";
import { BUILD_DIR } from "../container-exec.js";

/** /app leaves the container as a tar stream and becomes a content-addressed slug. */
export const slugPhase: Phase = {
  name: "slug",
  async run(ctx) {
    ctx.out.step("Compressing...");
    const tar = await containerOf(ctx).getArchive(BUILD_DIR);
    ctx.slug = await writeSlug(tar, { slugsDir: ctx.deps.slugsDir, maxBytes: ctx.deps.config.maxSlugBytes, signal: ctx.signal });
    ctx.out.detail(`Done: ${formatSize(ctx.slug.size)}`);
    ctx.log.info({ sha256: ctx.slug.sha256, bytes: ctx.slug.size }, "slug written");
  },
};
