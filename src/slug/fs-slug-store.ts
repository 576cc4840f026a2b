import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SlugforgeError } from "../errors.js";
import { parseSlugId, type SlugStore, type StoredSlug } from "./slug-store.js";
import { verifySha256 } from "../util/verify-sha256.js";

/**
 * Slugs on the local disk: `<dir>/sha256/<first two hex>/<hex>.tar.gz`, mode 0444. A put streams
 * into a temp file in the same folder tree, fsyncs it and renames it into place, so a slug is
 * visible whole or not at all; a crash leaves only a `.tmp-*` file, swept on open.
 */
export function createFsSlugStore(dir: string): SlugStore & { sweepTemp(): Promise<number> } {
  const root = path.join(dir, "sha256");
  const fileOf = (hex: string): string => path.join(root, hex.slice(0, 2), `${hex}.tar.gz`);

  const statHex = async (hex: string): Promise<StoredSlug | undefined> => {
    try {
      const s = await stat(fileOf(hex));
      return { id: `sha256:${hex}`, sizeBytes: s.size };
    } catch {
      return undefined;
    }
  };

  return {
    async put(bytes) {
      await mkdir(root, { recursive: true });
      const tmp = path.join(root, `.tmp-${randomUUID()}`);
      const hash = createHash("sha256");
      let size = 0;
      const file = createWriteStream(tmp, { flags: "wx", mode: 0o600 });
      try {
        await pipeline(bytes, tap((chunk) => {
          hash.update(chunk);
          size += chunk.length;
        }), file);
        await syncFile(tmp);
      } catch (err) {
        // The file may still be opening when the source fails: remove it once it is closed.
        if (!file.closed) await new Promise<void>((resolve) => file.once("close", () => resolve()));
        await rm(tmp, { force: true });
        throw err;
      }
      const hex = hash.digest("hex");
      const existing = await statHex(hex);
      if (existing) {
        await rm(tmp, { force: true });
        return existing;
      }
      await mkdir(path.dirname(fileOf(hex)), { recursive: true });
      await chmod(tmp, 0o444);
      await rename(tmp, fileOf(hex));
      await syncDir(path.dirname(fileOf(hex)));
      return { id: `sha256:${hex}`, sizeBytes: size };
    },
    async get(id) {
      const hex = parseSlugId(id);
      if (!hex || !(await statHex(hex))) return undefined;
      const verify = verifySha256(hex, (actual) => new SlugforgeError("INTERNAL", `slug ${id} is corrupt on disk: its bytes hash to sha256:${actual}`, { data: { corrupt: true } }));
      return createReadStream(fileOf(hex)).pipe(verify);
    },
    stat: async (id) => {
      const hex = parseSlugId(id);
      return hex ? statHex(hex) : undefined;
    },
    async readRange(id, offset, length) {
      const hex = parseSlugId(id);
      if (!hex) return undefined;
      const handle = await open(fileOf(hex), "r").catch(() => undefined);
      if (!handle) return undefined;
      try {
        // Not zeroed first (16 MB of a warm rebuild's slug is read this way): it is given out only when read whole.
        const buf = Buffer.allocUnsafe(length);
        const { bytesRead } = await handle.read(buf, 0, length, offset);
        return bytesRead === length ? buf : undefined;
      } finally {
        await handle.close();
      }
    },
    async list() {
      const out: StoredSlug[] = [];
      for (const prefix of await readdir(root).catch(() => [] as string[])) {
        if (prefix.startsWith(".")) continue;
        for (const name of await readdir(path.join(root, prefix)).catch(() => [] as string[])) {
          const hex = /^([0-9a-f]{64})\.tar\.gz$/.exec(name)?.[1];
          const found = hex ? await statHex(hex) : undefined;
          if (found) out.push(found);
        }
      }
      return out;
    },
    async delete(id) {
      const hex = parseSlugId(id);
      if (hex) await rm(fileOf(hex), { force: true });
    },
    async sweepTemp() {
      const names = await readdir(root).catch(() => [] as string[]);
      const temps = names.filter((n) => n.startsWith(".tmp-"));
      await Promise.all(temps.map((n) => rm(path.join(root, n), { force: true })));
      return temps.length;
    },
  };
}

function tap(fn: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      fn(chunk);
      cb(null, chunk);
    },
  });
}

/** fsync of a file (opened for writing) or a folder (read-only): its data, or its entries, are on disk. */
async function syncPath(p: string, flags: "r+" | "r"): Promise<void> {
  const handle = await open(p, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const syncFile = (file: string): Promise<void> => syncPath(file, "r+");
const syncDir = (dir: string): Promise<void> => syncPath(dir, "r");
