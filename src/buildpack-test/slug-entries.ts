import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { createGunzip } from "node:zlib";
import { mapTar } from "../slug/tar-transform.js";

/** Every path in a gzipped slug, relative to /app (`app.py`, `.heroku/python/bin/python`). */
export async function slugEntries(slug: Readable): Promise<string[]> {
  const names: string[] = [];
  const gunzip = createGunzip();
  slug.on("error", (err) => gunzip.destroy(err));
  const listed = mapTar(slug.pipe(gunzip), (h) => {
    const rel = h.name.replace(/^\.?\/?app\/?/, "").replace(/\/$/, "");
    if (rel) names.push(rel);
    return undefined;
  });
  await pipeline(listed, new Writable({ write: (_c, _e, done) => done() }));
  return names;
}
