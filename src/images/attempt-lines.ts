import { formatSize } from "../util/format-size.js";
import { PUBLISH_FLAG } from "../util/preview-port.js";
import type { ImageAttempt } from "./image-service.js";

/** Where a push's lines go: `-----> step` and indented detail (the build printer). */
export interface Lines {
  step(text: string): void;
  detail(text: string): void;
}

/**
 * What the pusher reads about the release's image: its name and digest and how to run it, or that
 * it will follow (the release exists either way, the slug being the source of truth).
 */
export function printAttempt(attempt: ImageAttempt, release: { app: string; version: number }, out: Lines, waitMs: number): void {
  const v = `v${release.version}`;
  if (attempt.state === "made") {
    const { image } = attempt;
    out.step(`Image ${image.name} ${image.digest}`);
    if (image.loaded) out.detail("Loaded into this server's Docker engine (no SLUGFORGE_REGISTRY set)");
    else if (image.sent.blobs === 0) out.detail("The registry had every layer: only the tags were written");
    else out.detail(`Sent ${image.sent.blobs} blob${image.sent.blobs === 1 ? "" : "s"} (${formatSize(image.sent.bytes)}); the registry had the other ${image.sent.had}`);
    out.detail(image.web ? `Run it: docker run --rm ${PUBLISH_FLAG} ${image.name}` : `Run it: docker run --rm ${image.name} PROCESS_TYPE`);
    return;
  }
  if (attempt.state === "pending") {
    out.step(`Image of ${v} still being made after ${Math.round(waitMs / 1000)} s: it is finished in the background`);
    out.detail(`\`slugforge releases ${release.app}\` shows it when it is done`);
    return;
  }
  const { error, retryInMs } = attempt;
  out.step(`Image of ${v} not made: ${error.code}: ${error.message}`);
  if (retryInMs === undefined) {
    out.detail(`The release is kept; it can have no image (\`slugforge releases:image ${release.app} ${v}\` tries again)`);
    return;
  }
  out.detail(`The release is kept; its image is retried in the background (next try in ${Math.max(1, Math.round(retryInMs / 1000))} s)`);
  out.detail(`Try now: slugforge releases:image ${release.app} ${v}`);
}
