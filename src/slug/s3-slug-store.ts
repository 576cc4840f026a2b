import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { pipeline as pipelineCb, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SlugforgeError } from "../errors.js";
import type { ObjectBucket } from "./s3-bucket.js";
import { parseSlugId, type SlugMemberIndex, type SlugStore, type StoredSlug } from "./slug-store.js";
import { verifySha256 } from "../util/verify-sha256.js";

/**
 * Slugs in an object store, under the same content-addressed names as on disk:
 * `sha256/<first two hex>/<hex>.tar.gz`, and beside each its member index
 * (`<hex>.members.json`, what block reuse needs to copy its compressed blocks into a later slug).
 *
 * A put spools the stream to a temp file in `spoolDir` while hashing it (the name is known only at
 * the end), then checks whether the key exists and uploads only if it does not: write-once
 * without a conditional PUT, which Swift refuses; two nodes putting the same slug at once upload
 * the same bytes to the same key, which is harmless. A failed upload leaves nothing at the key
 * (a single PUT is all or nothing; a multipart upload is aborted). Every get is verified against
 * the sha256 at the stream's end.
 */
export function createS3SlugStore(bucket: ObjectBucket, spoolDir: string): SlugStore & { sweepTemp(): Promise<number> } {
  const keyOf = (hex: string): string => `sha256/${hex.slice(0, 2)}/${hex}.tar.gz`;
  const indexKeyOf = (hex: string): string => `sha256/${hex.slice(0, 2)}/${hex}.members.json`;
  const statHex = async (hex: string): Promise<StoredSlug | undefined> => {
    const found = await bucket.head(keyOf(hex));
    return found && { id: `sha256:${hex}`, sizeBytes: found.size };
  };

  return {
    async put(bytes) {
      await mkdir(spoolDir, { recursive: true });
      const tmp = path.join(spoolDir, `.tmp-upload-${randomUUID()}`);
      try {
        const hash = createHash("sha256");
        let size = 0;
        const file = createWriteStream(tmp, { flags: "wx", mode: 0o600 });
        try {
          await pipeline(bytes, new Transform({
            transform(chunk: Buffer, _enc, cb) {
              hash.update(chunk);
              size += chunk.length;
              cb(null, chunk);
            },
          }), file);
        } catch (err) {
          if (!file.closed) await new Promise<void>((resolve) => file.once("close", () => resolve()));
          throw err;
        }
        const hex = hash.digest("hex");
        const existing = await statHex(hex);
        if (existing) return existing;
        await bucket.putFile(keyOf(hex), tmp, size);
        return { id: `sha256:${hex}`, sizeBytes: size };
      } finally {
        await rm(tmp, { force: true });
      }
    },
    async get(id) {
      const hex = parseSlugId(id);
      const body = hex ? await bucket.get(keyOf(hex)) : undefined;
      if (!hex || !body) return undefined;
      const verify = verifySha256(hex, (actual) => new SlugforgeError("INTERNAL", `slug ${id} is corrupt in the object store (${bucket.where}): its bytes hash to sha256:${actual}`, { data: { corrupt: true } }));
      // A broken connection mid-body fails the stream the caller reads, as a coded error.
      pipelineCb(body, verify, (err) => {
        if (err && !(err instanceof SlugforgeError) && !verify.destroyed) verify.destroy(new SlugforgeError("STORAGE_UNAVAILABLE", `reading slug ${id} from ${bucket.where} failed: ${err.message}`, { cause: err }));
      });
      return verify;
    },
    stat: async (id) => {
      const hex = parseSlugId(id);
      return hex ? statHex(hex) : undefined;
    },
    async readRange(id, offset, length) {
      const hex = parseSlugId(id);
      return hex ? bucket.getRange(keyOf(hex), offset, length) : undefined;
    },
    async list() {
      const out: StoredSlug[] = [];
      for (const { key, size } of await bucket.list("sha256/")) {
        const hex = /^sha256\/[0-9a-f]{2}\/([0-9a-f]{64})\.tar\.gz$/.exec(key)?.[1];
        if (hex) out.push({ id: `sha256:${hex}`, sizeBytes: size });
      }
      return out;
    },
    async delete(id) {
      const hex = parseSlugId(id);
      if (!hex) return;
      await bucket.delete(keyOf(hex));
      await bucket.delete(indexKeyOf(hex));
    },
    async putMemberIndex(index) {
      const hex = parseSlugId(index.slugId);
      if (hex) await bucket.putBytes(indexKeyOf(hex), Buffer.from(JSON.stringify(index)), "application/json");
    },
    async getMemberIndex(id) {
      const hex = parseSlugId(id);
      const body = hex ? await bucket.get(indexKeyOf(hex)) : undefined;
      if (!body) return undefined;
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      try {
        const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as SlugMemberIndex;
        return parsed.slugId === id && Array.isArray(parsed.members) ? parsed : undefined;
      } catch {
        return undefined;
      }
    },
    async sweepTemp() {
      const names = await readdir(spoolDir).catch(() => [] as string[]);
      const temps = names.filter((n) => n.startsWith(".tmp-upload-"));
      await Promise.all(temps.map((n) => rm(path.join(spoolDir, n), { force: true })));
      return temps.length;
    },
  };
}
