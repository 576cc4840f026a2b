import { parseSlugignore, type Slugignore } from "../../slug/slugignore.js";
import { mapTar, type TarHeader } from "../../slug/tar-transform.js";
import { holdStream } from "../../util/failpoints.js";
import type { Phase } from "../build-context.js";
import { BUILD_DIR, extractIntoBuild } from "../container-exec.js";
import { commitDate, gitArchive, readCommitFile } from "../git-source.js";

/**
 * The pushed commit into /app: `git archive` unpacked by the build user, through a filter that
 * applies `.slugignore` (before the build, as Heroku does) when the app has one. The commit's
 * time is kept: slug mtimes are clamped to it.
 */
export const sourcePhase: Phase = {
  name: "source",
  async run(ctx) {
    const { source, commit } = ctx.request;
    const ignoreText = await readCommitFile(source, commit, ".slugignore", ctx.signal);
    const ignore = ignoreText === undefined ? undefined : parseSlugignore(ignoreText);
    for (const line of ignore?.unsupported ?? []) ctx.out.error(`.slugignore: "${line}" ignored (negation is not supported)`);

    ctx.sourceDate = await commitDate(source, commit, ctx.signal);
    const archive = gitArchive(source, commit, ctx.signal);
    const stream = holdStream(archive.stream, "source", ctx.request.app, ctx.signal);
    let removed = 0;
    // Without a .slugignore git's tar goes straight in; with one, through the filter.
    const tar = ignore
      ? mapTar(stream, (h) => {
          const kept = sourceEntry(h, ignore);
          if (!kept && h.type !== "directory") removed++;
          return kept;
        })
      : stream;
    await Promise.all([extractIntoBuild(ctx, tar, BUILD_DIR), archive.done]);
    if (removed > 0) ctx.out.detail(`.slugignore removed ${removed} file${removed === 1 ? "" : "s"}`);
  },
};

/** Keeps an entry of the source tar unless `.slugignore` drops it (ownership is the unpacking build user's). */
export function sourceEntry(header: TarHeader, ignore: Slugignore | undefined): TarHeader | undefined {
  return ignore?.ignores(header.name, header.type === "directory") ? undefined : header;
}
