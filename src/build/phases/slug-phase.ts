import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { formatSize } from "../../slug/format-size.js";
import { storeSlug, type SlugMemberIndex } from "../../slug/slug-writer.js";
import type { SlugStore } from "../../slug/slug-store.js";
import { holdStream } from "../../util/failpoints.js";
import type { BuildContext, Phase } from "../build-context.js";
import { archiveFromBuild, BUILD_DIR } from "../container-exec.js";

/**
 * /app leaves the container as a tar stream and becomes a content-addressed slug. The members of
 * the app's last slug, and of the last slug any app made, are offered for reuse, so what did not
 * change since (an interpreter, the installed packages) is copied compressed rather than
 * compressed again.
 */
export const slugPhase: Phase = {
  name: "slug",
  async run(ctx) {
    await ctx.deps.disk?.check("Writing the slug");
    ctx.out.step("Compressing...");
    const tar = holdStream(archiveFromBuild(ctx, BUILD_DIR), "slug-compress", ctx.request.app, ctx.signal);
    const { config } = ctx.deps;
    const slugStore = holdingStore(ctx.deps.slugStore, ctx.request.app, ctx.signal);
    // The app's last slug first, then the last slug any app made (apps on one stack and language
    // share an interpreter, whose blocks are then compressed once for all of them).
    const previous = (await Promise.all([readMemberIndex(appIndexFile(ctx)), readMemberIndex(sharedIndexFile(ctx))])).filter(
      (i): i is SlugMemberIndex => i !== undefined,
    );
    const stored = await storeSlug(tar, slugStore, { maxBytes: config.maxSlugBytes, signal: ctx.signal, clampMtime: ctx.sourceDate, previous });
    ctx.slug = { sha256: stored.sha256, sizeBytes: stored.sizeBytes, id: stored.id };
    ctx.out.detail(`Done: ${formatSize(ctx.slug.sizeBytes)}`);
    ctx.log.info({ sha256: ctx.slug.sha256, bytes: ctx.slug.sizeBytes, id: ctx.slug.id, members: stored.members.length, reusedBytes: stored.reusedBytes }, "slug written");
    const index = { slugId: stored.id, members: stored.members };
    for (const file of [appIndexFile(ctx), sharedIndexFile(ctx)]) {
      await writeMemberIndex(file, index).catch((err: unknown) => ctx.log.warn({ err }, "could not keep the slug's member index"));
    }
  },
};

/** The slug store, its writes held mid-stream at the "slug-store" failpoint (tests only). */
function holdingStore(store: SlugStore, app: string, signal: AbortSignal): SlugStore {
  return { ...store, put: (bytes) => store.put(holdStream(bytes, "slug-store", app, signal)) };
}

/** `<cacheDir>/<app>/slug-members.json`: a cache like the buildpacks' (losing it only costs time). */
function appIndexFile(ctx: BuildContext): string {
  return path.join(ctx.deps.cacheDir, ctx.request.app, "slug-members.json");
}

/** `<cacheDir>/.slug-members.json`: the last slug written by any app. */
function sharedIndexFile(ctx: BuildContext): string {
  return path.join(ctx.deps.cacheDir, ".slug-members.json");
}

async function readMemberIndex(file: string): Promise<SlugMemberIndex | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as SlugMemberIndex;
    return typeof parsed.slugId === "string" && Array.isArray(parsed.members) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

async function writeMemberIndex(file: string, index: SlugMemberIndex): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomUUID()}`;
  try {
    await writeFile(tmp, JSON.stringify(index), { mode: 0o600 });
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}
