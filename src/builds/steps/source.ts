import { parseSlugignore, type Slugignore } from "../../slug/slugignore.js";
import { mapTar, type TarHeader } from "../../slug/tar-transform.js";
import { holdStream } from "../../util/failpoints.js";
import { BUILD_DIR, extractIntoBuild } from "../container-exec.js";
import { commitDate, gitArchive, readCommitFile } from "../git-source.js";
import type { SourceRef } from "../types.js";
import type { StepContext } from "./step.js";

export interface SourceResult {
  /** The commit's time (what git archive stamps on its entries): slug mtimes are clamped to it. */
  readonly sourceDate: Date;
  /** Files `.slugignore` kept out. */
  readonly ignored: number;
}

/**
 * The pushed commit into /app: `git archive` unpacked by the build user, through a filter that
 * applies `.slugignore` (before the build, as Heroku does) when the app has one.
 */
export async function putSource(step: StepContext, source: SourceRef): Promise<SourceResult> {
  const ignoreText = await readCommitFile(source, step.commit, ".slugignore", step.signal);
  const ignore = ignoreText === undefined ? undefined : parseSlugignore(ignoreText);
  for (const line of ignore?.unsupported ?? []) step.out.error(`.slugignore: "${line}" ignored (negation is not supported)`);

  const sourceDate = await commitDate(source, step.commit, step.signal);
  const archive = gitArchive(source, step.commit, step.signal);
  const stream = holdStream(archive.stream, "source", step.app, step.signal);
  let ignored = 0;
  // Without a .slugignore git's tar goes straight in; with one, through the filter.
  const tar = ignore
    ? mapTar(stream, (h) => {
        const kept = sourceEntry(h, ignore);
        if (!kept && h.type !== "directory") ignored++;
        return kept;
      })
    : stream;
  await Promise.all([extractIntoBuild(step, tar, BUILD_DIR), archive.done]);
  if (ignored > 0) step.out.detail(`.slugignore removed ${ignored} file${ignored === 1 ? "" : "s"}`);
  return { sourceDate, ignored };
}

/** Keeps an entry of the source tar unless `.slugignore` drops it (ownership is the unpacking build user's). */
export function sourceEntry(header: TarHeader, ignore: Slugignore | undefined): TarHeader | undefined {
  return ignore?.ignores(header.name, header.type === "directory") ? undefined : header;
}
