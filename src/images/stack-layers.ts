import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable, type TransformCallback, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import { createParallelGzip } from "../slug/parallel-gzip.js";
import { MEDIA_TYPES, type LayerDescriptor } from "./oci.js";

/** The stack's run image as an image's base: what its config says, by the engine's own account. */
export interface StackBase {
  readonly ref: string;
  readonly imageId: string;
  readonly created: string;
  readonly os: string;
  readonly architecture: string;
  readonly env: readonly string[];
  readonly diffIds: readonly string[];
}

/** A stack layer as a registry gets it: a gzip blob in the data folder's cache. */
export interface StackLayer extends LayerDescriptor {
  readonly file: string;
}

export async function readStackBase(runtime: ContainerRuntime, ref: string): Promise<StackBase> {
  const info = await runtime.inspectImage(ref);
  if (!info) throw new SlugforgeError("STACK_MISSING", `image ${ref} is missing; run \`slugforge stack build\``);
  return { ref, imageId: info.id, created: info.createdAt.toISOString(), os: info.os, architecture: info.architecture, env: info.env, diffIds: info.diffIds };
}

interface CacheRecord {
  readonly ref: string;
  readonly imageId: string;
  readonly layers: readonly { diffId: string; digest: string; size: number }[];
}

/**
 * The run image's layers as gzip blobs, made once per image id and kept under `<cacheDir>`
 * (`stacks/<id>.json` names them, `blobs/sha256/<hex>` holds them): the engine's `docker save`
 * stream is read entry by entry, each layer hashed (its diff id) and compressed on the way to its
 * file, never held in memory. Records of earlier images under the same name are removed with
 * their blobs when a new one is made (a rebuilt stack).
 */
export async function stackLayers(runtime: ContainerRuntime, base: StackBase, cacheDir: string, signal?: AbortSignal): Promise<StackLayer[]> {
  const recordFile = path.join(cacheDir, "stacks", `${hexOf(base.imageId)}.json`);
  const kept = await readRecord(recordFile);
  if (kept && (await blobsPresent(cacheDir, kept))) return toLayers(cacheDir, kept);

  const blobsDir = path.join(cacheDir, "blobs", "sha256");
  await mkdir(blobsDir, { recursive: true });
  const wanted = new Set(base.diffIds);
  const made = new Map<string, { digest: string; size: number }>();
  const extract = tar.extract();
  extract.on("entry", (header, body, next) => {
    const name = header.name.replace(/^\.\//, "");
    const blobHex = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name)?.[1];
    // docker save before 25: <id>/layer.tar; from 25 (OCI layout): blobs/sha256/<diff id hex>.
    const isLayer = header.type === "file" && (name.endsWith("/layer.tar") || (blobHex !== undefined && wanted.has(`sha256:${blobHex}`)));
    if (!isLayer) {
      body.on("end", () => next());
      body.resume();
      return;
    }
    compressLayer(body as unknown as Readable, blobsDir).then((layer) => {
      if (wanted.has(layer.diffId) && !made.has(layer.diffId)) made.set(layer.diffId, layer);
      next();
    }, next);
  });
  await pipeline(await runtime.saveImage(base.ref), extract as unknown as Writable, { signal });
  const missing = base.diffIds.filter((d) => !made.has(d));
  if (missing.length) throw new SlugforgeError("INTERNAL", `docker save of ${base.ref} did not hold its layer(s) ${missing.join(", ")}`);

  const record: CacheRecord = { ref: base.ref, imageId: base.imageId, layers: base.diffIds.map((diffId) => ({ diffId, ...made.get(diffId)! })) };
  await writeAtomically(recordFile, JSON.stringify(record));
  await forgetOlder(cacheDir, record, [...made.values()].map((m) => m.digest));
  return toLayers(cacheDir, record);
}

/** One layer: its tar hashed (diff id) and gzip-compressed into a temp file, renamed to its digest. */
async function compressLayer(body: Readable, blobsDir: string): Promise<{ diffId: string; digest: string; size: number }> {
  const raw = createHash("sha256");
  const gz = createHash("sha256");
  let size = 0;
  const tmp = path.join(blobsDir, `.tmp-${randomUUID()}`);
  try {
    await pipeline(body, tap((c) => raw.update(c)), createParallelGzip(), tap((c) => {
      gz.update(c);
      size += c.length;
    }), createWriteStream(tmp, { mode: 0o644 }));
    const hex = gz.digest("hex");
    await rename(tmp, path.join(blobsDir, hex));
    return { diffId: `sha256:${raw.digest("hex")}`, digest: `sha256:${hex}`, size };
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Removes the records (and blobs no other record names) of other images under the same name. */
async function forgetOlder(cacheDir: string, current: CacheRecord, keep: readonly string[]): Promise<void> {
  const dir = path.join(cacheDir, "stacks");
  const records = await Promise.all(
    (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith(".json")).map(async (f) => ({ file: path.join(dir, f), record: await readRecord(path.join(dir, f)) })),
  );
  const stillNamed = new Set(keep);
  for (const { record } of records) if (record && record.ref !== current.ref) for (const l of record.layers) stillNamed.add(l.digest);
  for (const { file, record } of records) {
    if (!record || record.ref !== current.ref || record.imageId === current.imageId) continue;
    await rm(file, { force: true });
    for (const l of record.layers) if (!stillNamed.has(l.digest)) await rm(blobFile(cacheDir, l.digest), { force: true });
  }
}

async function readRecord(file: string): Promise<CacheRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as CacheRecord;
  } catch {
    return undefined;
  }
}

async function blobsPresent(cacheDir: string, record: CacheRecord): Promise<boolean> {
  for (const l of record.layers) {
    const s = await stat(blobFile(cacheDir, l.digest)).catch(() => undefined);
    if (!s || s.size !== l.size) return false;
  }
  return true;
}

function toLayers(cacheDir: string, record: CacheRecord): StackLayer[] {
  return record.layers.map((l) => ({ mediaType: MEDIA_TYPES.layerGzip, digest: l.digest, size: l.size, diffId: l.diffId, file: blobFile(cacheDir, l.digest) }));
}

export function blobFile(cacheDir: string, digest: string): string {
  return path.join(cacheDir, "blobs", "sha256", hexOf(digest));
}

/** Opens a cached stack layer's blob for reading. */
export function openStackLayer(layer: StackLayer): Readable {
  return createReadStream(layer.file);
}

export async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomUUID()}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

function hexOf(digest: string): string {
  return digest.replace(/^sha256:/, "");
}

function tap(fn: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      fn(chunk);
      cb(null, chunk);
    },
  });
}
