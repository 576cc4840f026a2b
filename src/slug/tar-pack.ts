import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";

/** An entry of a tar made on the fly (ENV_DIR files, empty directories). */
export interface GeneratedEntry {
  readonly name: string;
  readonly type: "file" | "directory";
  readonly content?: string | Buffer;
  readonly mode: number;
}

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** A tar of entries given in memory (small things only: config vars, directory skeletons). */
export function packEntries(entries: readonly GeneratedEntry[], owner: Owner): Readable {
  const pack = tar.pack();
  const mtime = new Date();
  for (const e of entries) {
    const header = { name: e.name, type: e.type, mode: e.mode, uid: owner.uid, gid: owner.gid, mtime };
    if (e.type === "file") pack.entry(header, Buffer.from(e.content ?? ""));
    else pack.entry(header);
  }
  pack.finalize();
  const out = new PassThrough();
  pipeline(pack as unknown as Readable, out).catch((err: Error) => out.destroy(err));
  return out;
}

export interface PackDirectoryOptions {
  /** The directory's name inside the tar (everything goes under it). */
  readonly prefix: string;
  readonly owner: Owner;
  /** Names skipped at the top level (e.g. ".git" of a cloned buildpack). */
  readonly skipTopLevel?: readonly string[];
}

/**
 * Streams a host directory as a tar, files read one at a time (never the whole tree in memory).
 * Modes are kept (bin/compile stays executable), owners rewritten; sockets and devices skipped.
 */
export function packDirectory(dir: string, options: PackDirectoryOptions): Readable {
  const pack = tar.pack();
  const out = new PassThrough();
  const add = async (rel: string, top: boolean): Promise<void> => {
    const abs = path.join(dir, rel);
    const st = await lstat(abs);
    const name = path.posix.join(options.prefix, rel.split(path.sep).join("/"));
    const base = { name, mode: st.mode & 0o7777, uid: options.owner.uid, gid: options.owner.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      await entryDone(pack.entry({ ...base, type: "directory" }));
      const names = (await readdir(abs)).sort();
      for (const child of names) {
        if (top && options.skipTopLevel?.includes(child)) continue;
        await add(path.join(rel, child), false);
      }
    } else if (st.isSymbolicLink()) {
      await entryDone(pack.entry({ ...base, type: "symlink", linkname: await readlink(abs) }));
    } else if (st.isFile()) {
      const sink = pack.entry({ ...base, type: "file", size: st.size });
      await pipeline(createReadStream(abs), sink as unknown as Writable);
    }
  };
  add("", true).then(
    () => pack.finalize(),
    (err: Error) => pack.destroy(err),
  );
  pipeline(pack as unknown as Readable, out).catch((err: Error) => out.destroy(err));
  return out;
}

function entryDone(sink: ReturnType<tar.Pack["entry"]>): Promise<void> {
  return new Promise((resolve, reject) => {
    sink.on("error", reject);
    sink.on("finish", () => resolve());
    (sink as unknown as Writable).end();
  });
}
