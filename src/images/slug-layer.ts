import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { SlugforgeError } from "../errors.js";
import { parseSlugId, type SlugStore } from "../slug/slug-store.js";
import { MEDIA_TYPES, type LayerDescriptor } from "./oci.js";
import { writeAtomically } from "./stack-layers.js";

/**
 * A slug as an image layer, as it is: its file is the layer's blob (a gzip of a tar whose entries
 * are ./app/..., owned by uid 1000), so the slug's id is the layer's digest and nothing is
 * written again. What an image needs besides is the digest of the tar inside (the config's diff
 * id): read once by gunzipping the slug, then kept under `<cacheDir>/slugs/<hex>.json`.
 */
export async function slugLayer(slugs: SlugStore, slugId: string, cacheDir: string): Promise<LayerDescriptor> {
  const hex = parseSlugId(slugId);
  const stored = hex ? await slugs.stat(slugId) : undefined;
  if (!hex || !stored) throw new SlugforgeError("NOT_FOUND", `slug ${slugId} is not in the slug store: its release cannot have an image`, { data: { permanent: true } });
  const file = path.join(cacheDir, "slugs", `${hex}.json`);
  const known = await readFile(file, "utf8").then((t) => (JSON.parse(t) as { diffId?: string }).diffId, () => undefined);
  const diffId = known ?? (await diffIdOf(slugs, slugId));
  if (!known) await writeAtomically(file, JSON.stringify({ diffId }));
  return { mediaType: MEDIA_TYPES.layerGzip, digest: slugId, size: stored.sizeBytes, diffId };
}

async function diffIdOf(slugs: SlugStore, slugId: string): Promise<string> {
  const bytes = await slugs.get(slugId);
  if (!bytes) throw new SlugforgeError("NOT_FOUND", `slug ${slugId} is not in the slug store`, { data: { permanent: true } });
  const hash = createHash("sha256");
  // The store's stream checks the slug's own sha256 as it is read; gunzip reads every member.
  await pipeline(
    bytes,
    createGunzip(),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        cb();
      },
    }),
  );
  return `sha256:${hash.digest("hex")}`;
}
