import { createHash } from "node:crypto";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { SlugforgeError } from "../errors.js";
import { formatSize } from "../util/format-size.js";
import { createDirectorySizes, type DirectorySize } from "./directory-sizes.js";
import type { SlugMemberIndex, SlugStore, StoredSlug } from "./slug-store.js";
import { createParallelGzip, type GzipMember, type KnownBlock, type MemberLookup } from "./parallel-gzip.js";
import { slugCutter } from "./tar-cutter.js";
import { encodeUstarHeader, readPlainHeader } from "./tar-headers.js";
import { mapTar, type TarHeader } from "./tar-transform.js";

/**
 * Turns a tar of the built app directory (entries rooted at one top directory, as the engine's
 * archive gives them) into a slug in the store: every entry re-rooted under `./app/`, `.git`
 * dropped, normalised, gzipped and sha256-hashed in one streaming pass. The store owns durability
 * and naming; over the limit the stream fails, so no store ever keeps a partial or oversize slug.
 * Given the member index of an earlier slug (`previous`), blocks of the tar that slug already held
 * are copied from it compressed instead of being compressed again: a rebuild whose dependencies did
 * not change recompresses only what did.
 */
export async function storeSlug(
  tar: Readable | SlugTarMaker,
  store: SlugStore,
  options: { maxBytes: number; signal?: AbortSignal; previous?: readonly SlugMemberIndex[] } & ReproducibleOptions,
): Promise<StoredSlug & { sha256: string; members: GzipMember[]; reusedBytes: number }> {
  const reuse = options.previous?.length ? memberLookup(store, options.previous) : undefined;
  const slug = compressSlug(tar, options.maxBytes, options, reuse);
  const onAbort = (): void => void slug.stream.destroy(options.signal?.reason as Error);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const stored = await store.put(slug.stream);
    return { ...stored, sha256: slug.sha256(), members: slug.members, reusedBytes: slug.reusedBytes() };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
}

export type { SlugMemberIndex };

/**
 * A slug tar made by the caller (slugTar's output, or the same bytes another way: Buffers and
 * parallel-gzip's LazyBytes), given where each file's size is to be told; with what it knows of the
 * tar's blocks already (`known`: offsets in the tar).
 */
export type SlugTarMaker = (onFile: (name: string, bytes: number) => void) => { readonly tar: Readable; readonly known?: KnownBlock };

/**
 * Finds a block's bytes among earlier slugs' members (the first index that has it) and reads that
 * member from the store: with the members after it, up to READ_AHEAD_BYTES in one read, since a
 * rebuild copies most of an earlier slug's members in their order (one read of a 20 000-file
 * slug's 2 MB instead of 60 opens, reads and closes).
 */
function memberLookup(store: SlugStore, previous: readonly SlugMemberIndex[]): MemberLookup {
  const bySha = new Map<string, { index: SlugMemberIndex; at: number }>();
  for (const index of [...previous].reverse()) index.members.forEach((m, at) => bySha.set(m.sha256, { index, at }));
  // The last read of each earlier slug: where it starts, how long it is, and what it gave (undefined: nothing).
  const windows = new Map<string, { offset: number; bytes: number; read: Promise<Buffer | undefined> }>();
  return async (sha256, rawBytes) => {
    const found = bySha.get(sha256);
    if (!found) return undefined;
    const { slugId, members } = found.index;
    const member = members[found.at]!;
    if (member.rawBytes !== rawBytes) return undefined;
    let w = windows.get(slugId);
    if (!w || member.offset < w.offset || member.offset + member.bytes > w.offset + w.bytes) {
      let end = member.offset + member.bytes;
      for (let k = found.at + 1; k < members.length; k++) {
        const next = members[k]!;
        if (next.offset !== end || next.offset + next.bytes - member.offset > READ_AHEAD_BYTES) break;
        end = next.offset + next.bytes;
      }
      w = { offset: member.offset, bytes: end - member.offset, read: store.readRange(slugId, member.offset, end - member.offset).catch(() => undefined) };
      windows.set(slugId, w);
    }
    const read = await w.read;
    if (!read) return store.readRange(slugId, member.offset, member.bytes);
    return read.subarray(member.offset - w.offset, member.offset - w.offset + member.bytes);
  };
}

/** At most this much of an earlier slug is read at once to copy its members. */
const READ_AHEAD_BYTES = 4 * 1024 * 1024;

/**
 * The streaming core: re-root, gzip, hash and count in one pass. Over `maxBytes` the stream
 * errors with SLUG_TOO_LARGE at its end (after counting everything, so the message can say
 * which directories made it big), and no consumer ever sees a complete slug.
 */
export function compressSlug(
  tar: Readable | SlugTarMaker,
  maxBytes: number,
  reproducible: ReproducibleOptions = {},
  reuse?: MemberLookup,
): { stream: Readable; sha256(): string; bytes(): number; members: GzipMember[]; reusedBytes(): number } {
  const sizes = createDirectorySizes(2);
  const onFile = (name: string, bytes: number): void => sizes.add(name, bytes);
  const made = typeof tar === "function" ? tar(onFile) : { tar: slugTar(tar, reproducible, onFile) };
  const counter = new HashAndLimit(maxBytes, (bytes) => {
    const largest = sizes.largest(5);
    return new SlugforgeError(
      "SLUG_TOO_LARGE",
      `Compiled slug size: ${formatSize(bytes)} is too large (max is ${formatSize(maxBytes)}). Largest directories: ${describe(largest)}`,
      { data: { size: bytes, maxBytes, largestDirectories: largest } },
    );
  });
  const members: GzipMember[] = [];
  let reusedBytes = 0;
  const gzip = createParallelGzip({
    cutter: slugCutter(),
    reuse,
    known: made.known,
    onMember: ({ reused, ...member }) => {
      members.push(member);
      if (reused) reusedBytes += member.rawBytes;
    },
  });
  pipeline(made.tar, gzip, counter).catch(() => undefined);
  let digest: string | undefined;
  return { stream: counter, sha256: () => (digest ??= counter.digest()), bytes: () => counter.bytes, members, reusedBytes: () => reusedBytes };
}

/**
 * The tar of the build's folder as the slug holds it: re-rooted under `./app/`, `.git` and overlay
 * whiteouts dropped, every entry normalised; `onFile` hears each file's name and size. A file or
 * folder whose header needs no pax records is written straight from the fields of its block, with
 * the same bytes (`quick: false` turns that off, for tests that show it).
 */
export function slugTar(tar: Readable, reproducible: ReproducibleOptions, onFile: (name: string, bytes: number) => void, quick = true): Readable {
  const map = (h: TarHeader): TarHeader | undefined => {
    // A 0/0 character device is an overlay whiteout (a name deleted over a lower layer), read from a layer on the host: not in /app.
    if (h.type === "character-device" && !h.devmajor && !h.devminor) return undefined;
    const rooted = rerootUnderApp(h);
    const mapped = rooted && normaliseEntry(rooted, reproducible);
    if (mapped && mapped.type === "file") onFile(mapped.name, mapped.size ?? 0);
    return mapped;
  };
  const clamp = (reproducible.clampMtime ?? DEFAULT_CLAMP).getTime();
  const shortcut = (block: Buffer): { header: Buffer; bodyBytes: number } | undefined => {
    const h = readPlainHeader(block);
    const name = h && slugName(h.name, h.directory);
    if (!h || name === undefined) return undefined;
    // normaliseEntry's mode and time, and encodeTarEntry's defaults; undefined (a name that needs pax records): the mapper's way.
    const type = h.directory ? "directory" : "file";
    const mtime = h.mtime * 1000 < clamp ? h.mtime | 0 : (clamp / 1000) | 0;
    const { uid, gid, uname, gname } = SLUG_OWNER;
    const header = encodeUstarHeader({ name, type, mode: h.mode & 0o1777 || (h.directory ? 0o755 : 0o644), uid, gid, uname, gname, size: h.size, mtime });
    if (!header) return undefined;
    if (!h.directory) onFile(name, h.size);
    return { header, bodyBytes: h.size };
  };
  return mapTar(tar, map, quick ? shortcut : undefined);
}

export interface ReproducibleOptions {
  /** Later mtimes are clamped to this (the commit's time, as SOURCE_DATE_EPOCH); default 2000-01-01. */
  readonly clampMtime?: Date;
}

const DEFAULT_CLAMP = new Date("2000-01-01T00:00:00Z");
export const SLUG_OWNER = { uid: 1000, gid: 1000, uname: "slug", gname: "slug" } as const;

/**
 * The same tree gives the same slug bytes: only the fields a slug needs are kept (no pax records,
 * no device numbers), every entry is owned by the app user, permission bits lose setuid/setgid, and
 * mtimes are clamped to the commit's time (files made by the build get that time; older files such
 * as a copied standard library keep theirs, so their .pyc files stay valid). Entry order is the
 * order the engine walks /app in, which is sorted.
 */
export function normaliseEntry(h: TarHeader, options: ReproducibleOptions = {}): TarHeader {
  const clamp = options.clampMtime ?? DEFAULT_CLAMP;
  const time = h.mtime?.getTime();
  // (A whole second, as a tar header's always is, is kept as it is.)
  const mtime = time !== undefined && time < clamp.getTime() ? (time % 1000 === 0 ? h.mtime! : new Date(Math.floor(time / 1000) * 1000)) : clamp;
  return {
    name: h.name,
    type: h.type,
    mode: (h.mode ?? (h.type === "directory" ? 0o755 : 0o644)) & 0o1777,
    uid: SLUG_OWNER.uid,
    gid: SLUG_OWNER.gid,
    uname: SLUG_OWNER.uname,
    gname: SLUG_OWNER.gname,
    mtime,
    size: h.type === "file" ? h.size : 0,
    linkname: h.linkname,
  };
}

/** `app/x` (or `./app/x`, `x` under any one top directory) -> `./app/x`; drops `.git` anywhere. */
export function rerootUnderApp(header: TarHeader): TarHeader | undefined {
  const name = slugName(header.name, header.type === "directory");
  return name === undefined ? undefined : { ...header, name };
}

/** An entry's name in the slug (rerootUnderApp's), or undefined for one under `.git`. */
function slugName(entry: string, directory: boolean): string | undefined {
  const name = entry.startsWith("./") ? entry.slice(2) : entry;
  // The usual name (no empty part): read in place.
  if (!name.startsWith("/") && !name.includes("//")) {
    const top = name.indexOf("/");
    let rest = top === -1 ? "" : name.slice(top + 1);
    if (rest.endsWith("/")) rest = rest.slice(0, -1);
    if (rest === ".git" || rest.startsWith(".git/") || rest.endsWith("/.git") || rest.includes("/.git/")) return undefined;
    return rest === "" ? "./app/" : `./app/${rest}${directory ? "/" : ""}`;
  }
  const rest = name.split("/").filter(Boolean).slice(1);
  if (rest.includes(".git")) return undefined;
  return rest.length === 0 ? "./app/" : `./app/${rest.join("/")}${directory ? "/" : ""}`;
}

function describe(dirs: readonly DirectorySize[]): string {
  return dirs.map((d) => `${d.path} ${formatSize(d.bytes)}`).join(", ") || "(none)";
}

/** Hashes and counts the compressed bytes; past the limit it stops passing them on and fails at the end. */
class HashAndLimit extends Transform {
  bytes = 0;
  private readonly hash = createHash("sha256");
  constructor(
    private readonly maxBytes: number,
    private readonly tooLarge: (bytes: number) => Error,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    done(null, this.bytes > this.maxBytes ? undefined : chunk);
  }
  override _flush(done: TransformCallback): void {
    done(this.bytes > this.maxBytes ? this.tooLarge(this.bytes) : null);
  }
  digest(): string {
    return this.hash.digest("hex");
  }
}
