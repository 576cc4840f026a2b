import path from "node:path";
import type { StorageSetting } from "../config/storage-setting.js";
import type { Logger } from "../log.js";
import { createFsSlugStore } from "./fs-slug-store.js";
import { createS3Bucket, type ObjectBucket } from "./s3-bucket.js";
import { createS3SlugStore } from "./s3-slug-store.js";
import type { SlugStore } from "./slug-store.js";

export interface OpenedSlugStore {
  readonly store: SlugStore;
  /** The object store's bucket, when slugs live there (kept build caches go there too); undefined: the data folder. */
  readonly bucket: ObjectBucket | undefined;
}

/**
 * The slug store the server uses: the data folder (`<data>/slugs`), or with SLUGFORGE_STORAGE_URL
 * the object store, whose bucket must answer at start (it is made when it does not exist, and the
 * log says so); a store that does not answer stops the start with STORAGE_UNAVAILABLE. Half-written
 * files a stopped process left are removed either way.
 */
export async function openSlugStore(settings: { dataDir: string; storage: StorageSetting | undefined }, log: Logger): Promise<OpenedSlugStore> {
  const dir = path.join(settings.dataDir, "slugs");
  const fs = createFsSlugStore(dir);
  const swept = await fs.sweepTemp();
  if (!settings.storage) {
    if (swept > 0) log.warn({ files: swept }, "removed half-written slug files a stopped process left");
    return { store: fs, bucket: undefined };
  }
  const bucket = createS3Bucket(settings.storage);
  const store = createS3SlugStore(bucket, dir);
  const spooled = await store.sweepTemp();
  if (swept + spooled > 0) log.warn({ files: swept + spooled }, "removed half-written slug files a stopped process left");
  const state = await bucket.ensure();
  if (state === "created") log.warn({ bucket: settings.storage.bucket, endpoint: settings.storage.endpoint }, "the slug bucket did not exist: created it");
  log.info({ bucket: settings.storage.bucket, endpoint: settings.storage.endpoint }, "slugs and kept build caches go to the object store");
  return { store, bucket };
}
