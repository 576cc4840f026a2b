import { createHash, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, mkdir, open, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { SlugforgeError } from "../errors.js";
import { formatSize } from "./format-size.js";
import { createDirectorySizes, type DirectorySize } from "./directory-sizes.js";
import { mapTar, type TarHeader } from "./tar-transform.js";

export interface WriteSlugOptions {
  /** Where slugs live: `<dataDir>/slugs`. */
  readonly slugsDir: string;
  /** Compressed size limit; over it the slug is not kept and SLUG_TOO_LARGE is thrown. */
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
}

export interface SlugFile {
  readonly path: string;
  readonly sha256: string;
  /** Compressed bytes. */
  readonly size: number;
}

/**
 * Turns a tar of the built app directory (entries rooted at one top directory, as `docker cp`
 * gives them) into a Heroku slug: every entry re-rooted under `./app/`, `.git` dropped, gzipped
 * and sha256-hashed in one streaming pass into a temp file that is fsynced and renamed to
 * `<sha256>.tar.gz` (mode 0444). The slug appears whole or not at all.
 */
export async function writeSlug(tar: Readable, options: WriteSlugOptions): Promise<SlugFile> {
  await mkdir(options.slugsDir, { recursive: true });
  const tmp = path.join(options.slugsDir, `.tmp-${randomUUID()}`);
  const sizes = createDirectorySizes(2);
  const counter = new HashAndLimit(options.maxBytes);
  let kept = false;
  try {
    const rerooted = mapTar(tar, (h) => {
      const mapped = rerootUnderApp(h);
      if (mapped && mapped.type === "file") sizes.add(mapped.name, mapped.size ?? 0);
      return mapped;
    });
    await pipeline(rerooted, createGzip(), counter, createWriteStream(tmp, { flags: "wx", mode: 0o600 }), { signal: options.signal });
    if (counter.exceeded) {
      throw new SlugforgeError(
        "SLUG_TOO_LARGE",
        `Compiled slug size: ${formatSize(counter.bytes)} is too large (max is ${formatSize(options.maxBytes)}). Largest directories: ${describe(sizes.largest(5))}`,
        { data: { size: counter.bytes, maxBytes: options.maxBytes, largestDirectories: sizes.largest(5) } },
      );
    }
    await fsyncFile(tmp);
    const sha256 = counter.digest();
    const final = path.join(options.slugsDir, `${sha256}.tar.gz`);
    await chmod(tmp, 0o444);
    await rename(tmp, final);
    kept = true;
    await syncDirectory(options.slugsDir);
    return { path: final, sha256, size: counter.bytes };
  } finally {
    if (!kept) await rm(tmp, { force: true });
  }
}

/** `app/x` (or `./app/x`, `x` under any one top directory) -> `./app/x`; drops `.git` anywhere. */
export function rerootUnderApp(header: TarHeader): TarHeader | undefined {
  const parts = header.name.replace(/^\.\//, "").split("/").filter(Boolean);
  const rest = parts.slice(1);
  if (rest.includes(".git")) return undefined;
  const name = rest.length === 0 ? "./app/" : `./app/${rest.join("/")}${header.type === "directory" ? "/" : ""}`;
  return { ...header, name };
}

function describe(dirs: readonly DirectorySize[]): string {
  return dirs.map((d) => `${d.path} ${formatSize(d.bytes)}`).join(", ") || "(none)";
}

/** Hashes and counts the compressed bytes; past the limit it stops writing them (but keeps counting). */
class HashAndLimit extends Transform {
  bytes = 0;
  private readonly hash = createHash("sha256");
  constructor(private readonly maxBytes: number) {
    super();
  }
  get exceeded(): boolean {
    return this.bytes > this.maxBytes;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    done(null, this.exceeded ? undefined : chunk);
  }
  digest(): string {
    return this.hash.digest("hex");
  }
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await open(file, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await handle.close();
  }
}
