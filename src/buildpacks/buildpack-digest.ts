import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";

/**
 * A buildpack folder's content as one sha256: every file's path, mode and bytes, every link's path
 * and target, in name order (a top-level `.git` left out, as it is when the buildpack is copied
 * into a build). Two builds with equal digests ran the same buildpack, whatever its folder's
 * mtimes. Git buildpacks are named by their commit instead.
 */
export async function buildpackDigest(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(path.join(dir, rel))).sort();
    for (const name of names) {
      if (rel === "" && name === ".git") continue;
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const full = path.join(dir, relPath);
      const stats = await lstat(full);
      if (stats.isDirectory()) {
        hash.update(`d ${relPath}\0`);
        await walk(relPath);
      } else if (stats.isSymbolicLink()) {
        hash.update(`l ${relPath}\0${await readlink(full)}\0`);
      } else if (stats.isFile()) {
        const content = await readFile(full);
        hash.update(`f ${relPath}\0${(stats.mode & 0o777).toString(8)}\0${content.length}\0`);
        hash.update(content);
      }
    }
  };
  await walk("");
  return hash.digest("hex");
}
