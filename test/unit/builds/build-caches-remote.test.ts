import { execFileSync } from "node:child_process";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { BuildCaches } from "../../../src/builds/build-caches.js";
import type { CacheRemote } from "../../../src/builds/cache-remote.js";
import { silentLogger } from "../../../src/log.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

/** BuildCaches against a fake object store (our own CacheRemote interface): what a node does when the store misbehaves. */
describe("build caches with an object store that misbehaves", () => {
  const dirs = tmpDirs();
  const log = silentLogger();
  afterEach(() => dirs.cleanup());

  const tarOf = async (key: string, content: string): Promise<Buffer> => {
    const dir = await dirs.make("sf-cache-src-");
    await mkdir(path.join(dir, key), { recursive: true });
    await writeFile(path.join(dir, key, "file"), content);
    return execFileSync("tar", ["-c", "-f", "-", "-C", dir, key]);
  };
  const remoteWith = (over: Partial<CacheRemote>): CacheRemote => ({
    where: "bucket fake at http://127.0.0.1:1",
    upload: async () => undefined,
    keys: async () => [],
    download: async () => undefined,
    remove: async () => undefined,
    ...over,
  });

  it("a store that cannot list leaves the build without caches, and no error", async () => {
    const caches = new BuildCaches({ cacheDir: await dirs.make(), log, remote: remoteWith({ keys: () => Promise.reject(new Error("no answer")) }) });
    await expect(caches.restore("app-one", "b1", log)).resolves.toBeUndefined();
  });

  it("a cache that fails to download is left out; the others come in", async () => {
    const good = await tarOf("good", "fine");
    const remote = remoteWith({
      keys: async () => ["broken", "good"],
      download: async (_app, key) => (key === "good" ? Readable.from([good]) : Readable.from((async function* () {
        yield Buffer.alloc(512);
        throw new Error("connection reset");
      })())),
    });
    const caches = new BuildCaches({ cacheDir: await dirs.make(), log, remote });
    await caches.restore("app-two", "b1", log);
    expect(await readdir(caches.appDir("app-two"))).toEqual(["good"]);
    expect(await readFile(path.join(caches.appDir("app-two"), "good", "file"), "utf8")).toBe("fine");
  });

  it("a tar that does not hold the key's folder is refused", async () => {
    const other = await tarOf("elsewhere", "x");
    const caches = new BuildCaches({ cacheDir: await dirs.make(), log, remote: remoteWith({ keys: async () => ["python"], download: async () => Readable.from([other]) }) });
    await caches.restore("app-three", "b1", log);
    expect(await readdir(caches.appDir("app-three"))).toEqual([]);
  });

  it("a failed upload is a warning, not an error: the cache stays kept on this node", async () => {
    const caches = new BuildCaches({ cacheDir: await dirs.make(), log, remote: remoteWith({ upload: () => Promise.reject(new Error("no answer")) }) });
    const from = path.join(caches.cacheDir, "incoming");
    await mkdir(from, { recursive: true });
    await writeFile(path.join(from, "file"), "kept");
    await caches.keep("app-four", "b1", from, "python");
    await caches.idle();
    expect(await readFile(path.join(caches.appDir("app-four"), "python", "file"), "utf8")).toBe("kept");
  });
});
