import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";

/** One entry of a buildpack folder, in the order the digest takes them. */
type Entry = { readonly kind: "d"; readonly rel: string } | { readonly kind: "l"; readonly rel: string; readonly target: string } | { readonly kind: "f"; readonly rel: string; readonly mode: number };

/** How many files are read ahead of the one being hashed. */
const READ_AHEAD = 8;

/**
 * A buildpack folder's content as one sha256: every file's path, mode and bytes, every link's path
 * and target, in name order (a top-level `.git` left out, as it is when the buildpack is copied
 * into a build). Two builds with equal digests ran the same buildpack, whatever its folder's
 * mtimes. Git buildpacks are named by their commit instead.
 *
 * Every push of an app on a folder buildpack computes this (its build's inputs), so the folder is
 * listed with a folder's entries looked at all at once, and files are read a few ahead of the hash
 * (which still takes them one by one, in order): one file system round trip after another made it
 * the slowest part of a reused slug's push.
 */
export async function buildpackDigest(dir: string): Promise<string> {
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
    if (entry.kind === "d") {
      hash.update(`d ${entry.rel}\0`);
    } else if (entry.kind === "l") {
      hash.update(`l ${entry.rel}\0${entry.target}\0`);
    } else {
      readAhead(i);
      const content = await reads.get(i)!;
      reads.delete(i);
      hash.update(`f ${entry.rel}\0${(entry.mode & 0o777).toString(8)}\0${content.length}\0`);
      hash.update(content);
    }
  }
  return hash.digest("hex");
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
