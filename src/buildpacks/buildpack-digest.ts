import { createHash, type Hash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";

/** One entry of a buildpack folder, in the order the digest takes them. */
type Entry =
  | { readonly kind: "d"; readonly rel: string }
  | { readonly kind: "l"; readonly rel: string; readonly target: string }
  | { readonly kind: "f"; readonly rel: string; readonly mode: number };

/** How many files are read ahead of the one being hashed. */
const READ_AHEAD = 8;

/**
 * A folder within both limits (the shipped Python buildpack: 28 files, 208 kB) is read without
 * leaving the event loop: about 0.5 ms, where the same reads as thread pool round trips took 2 to
 * 12 ms of a push (beside its other reads). A larger one is read asynchronously.
 */
const SMALL: SmallFolder = { entries: 512, bytes: 4 * 1024 * 1024 };

/** The most entries and file bytes of a folder read in one go. */
export interface SmallFolder {
  readonly entries: number;
  readonly bytes: number;
}

/**
 * A buildpack folder's content as one sha256: every file's path, mode and bytes, every link's path
 * and target, in name order (a top-level `.git` left out, as it is when the buildpack is copied
 * into a build). Two builds with equal digests ran the same buildpack, whatever its folder's
 * mtimes. Git buildpacks are named by their commit instead.
 *
 * Every push of an app on a folder buildpack computes this (its build's inputs): one file system
 * round trip after another made it the slowest part of a reused slug's push. A small folder (see
 * SMALL; `small` for tests) is read in one go; a larger one is listed with a folder's entries
 * looked at all at once, and its files are read a few ahead of the hash (which still takes them
 * one by one, in order).
 */
export async function buildpackDigest(dir: string, small: SmallFolder = SMALL): Promise<string> {
  const few = listSmall(dir, small);
  if (few) {
    const hash = createHash("sha256");
    for (const entry of few) add(hash, entry, entry.kind === "f" ? readFileSync(path.join(dir, entry.rel)) : undefined);
    return hash.digest("hex");
  }
  const entries = await list(dir, "");
  const hash = createHash("sha256");
  const reads = new Map<number, Promise<Buffer>>();
  const readAhead = (from: number): void => {
    for (let i = from; i < entries.length && reads.size < READ_AHEAD; i++) {
      const entry = entries[i]!;
      if (entry.kind !== "f" || reads.has(i)) continue;
      const reading = readFile(path.join(dir, entry.rel));
      // A read whose turn never comes (an earlier one failed) must not be an unhandled rejection.
      reading.catch(() => undefined);
      reads.set(i, reading);
    }
  };
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    let content: Buffer | undefined;
    if (entry.kind === "f") {
      readAhead(i);
      content = await reads.get(i)!;
      reads.delete(i);
    }
    add(hash, entry, content);
  }
  return hash.digest("hex");
}

/** One entry into the digest: a file with its content. */
function add(hash: Hash, entry: Entry, content: Buffer | undefined): void {
  if (entry.kind === "d") {
    hash.update(`d ${entry.rel}\0`);
  } else if (entry.kind === "l") {
    hash.update(`l ${entry.rel}\0${entry.target}\0`);
  } else {
    const bytes = content ?? Buffer.alloc(0);
    hash.update(`f ${entry.rel}\0${(entry.mode & 0o777).toString(8)}\0${bytes.length}\0`);
    hash.update(bytes);
  }
}

/** The entries in digest order, as list() gives them, or undefined as soon as the folder is over the limits. */
function listSmall(dir: string, limits: SmallFolder): Entry[] | undefined {
  const entries: Entry[] = [];
  let bytes = 0;
  const walk = (rel: string): boolean => {
    const names = readdirSync(path.join(dir, rel)).sort();
    for (const name of names) {
      if (rel === "" && name === ".git") continue;
      if (entries.length >= limits.entries) return false;
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const full = path.join(dir, relPath);
      const stats = lstatSync(full);
      if (stats.isDirectory()) {
        entries.push({ kind: "d", rel: relPath });
        if (!walk(relPath)) return false;
      } else if (stats.isSymbolicLink()) {
        entries.push({ kind: "l", rel: relPath, target: readlinkSync(full) });
      } else if (stats.isFile()) {
        bytes += stats.size;
        if (bytes > limits.bytes) return false;
        entries.push({ kind: "f", rel: relPath, mode: stats.mode });
      }
    }
    return true;
  };
  return walk("") ? entries : undefined;
}

/** The entries under `rel` in digest order: a folder, then what is in it, names sorted. */
async function list(dir: string, rel: string): Promise<Entry[]> {
  const names = (await readdir(path.join(dir, rel))).sort().filter((name) => !(rel === "" && name === ".git"));
  const parts = await Promise.all(
    names.map(async (name): Promise<Entry[]> => {
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const full = path.join(dir, relPath);
      const stats = await lstat(full);
      if (stats.isDirectory()) return [{ kind: "d", rel: relPath }, ...(await list(dir, relPath))];
      if (stats.isSymbolicLink()) return [{ kind: "l", rel: relPath, target: await readlink(full) }];
      if (stats.isFile()) return [{ kind: "f", rel: relPath, mode: stats.mode }];
      return [];
    }),
  );
  return parts.flat();
}
