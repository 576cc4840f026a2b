import { execFileSync } from "node:child_process";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStorageSetting } from "../../../src/config/storage-setting.js";
import { BuildCaches } from "../../../src/builds/build-caches.js";
import { createBucketCacheRemote, type CacheRemote } from "../../../src/builds/cache-remote.js";
import { silentLogger } from "../../../src/log.js";
import { createS3Bucket } from "../../../src/slug/s3-bucket.js";
import { startTestSwift, type TestSwift } from "../../helpers/swift.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

/** Kept build caches through a real Swift (s3api): kept on one node, fetched on another, verified. */
describe("build caches in the object store", () => {
  const dirs = tmpDirs();
  const log = silentLogger();
  let swift: TestSwift;
  let remote: CacheRemote;
  let raw: S3Client;

  beforeAll(async () => {
    swift = await startTestSwift();
    const setting = parseStorageSetting(swift.storageUrl("sf-caches-test"), swift.env);
    if ("errors" in setting) throw new Error(setting.errors.join("; "));
    const bucket = createS3Bucket(setting);
    await bucket.ensure();
    remote = createBucketCacheRemote(bucket, await dirs.make("sf-cache-spool-"));
    raw = new S3Client({
      endpoint: swift.endpoint, region: "us-east-1", forcePathStyle: true,
      credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED",
    });
  }, 60_000);
  afterAll(async () => {
    raw?.destroy();
    await swift?.stop();
    await dirs.cleanup();
  });

  const node = async (): Promise<BuildCaches> => new BuildCaches({ cacheDir: await dirs.make("sf-cache-node-"), log, remote });
  const keepOne = async (caches: BuildCaches, app: string, key: string, content: string): Promise<void> => {
    const from = path.join(caches.cacheDir, `incoming-${key}`);
    await mkdir(path.join(from, "nested"), { recursive: true });
    await writeFile(path.join(from, "nested", "file"), content);
    await caches.keep(app, "b1", from, key);
    await caches.idle();
  };

  it("a kept cache is uploaded; a node without the app's folder fetches it; a node with one does not", async () => {
    const first = await node();
    await keepOne(first, "cached-app", "python", "from the first node");
    expect(await remote.keys("cached-app")).toEqual(["python"]);

    const second = await node();
    await second.restore("cached-app", "b2", log);
    expect(await readFile(path.join(second.appDir("cached-app"), "python", "nested", "file"), "utf8")).toBe("from the first node");
    expect((await readdir(second.appDir("cached-app"))).sort()).toEqual(["python"]);

    // The last keep wins in the store; a node that has the app's folder keeps its own.
    await keepOne(first, "cached-app", "python", "newer");
    await second.restore("cached-app", "b3", log);
    expect(await readFile(path.join(second.appDir("cached-app"), "python", "nested", "file"), "utf8")).toBe("from the first node");
    const third = await node();
    await third.restore("cached-app", "b4", log);
    expect(await readFile(path.join(third.appDir("cached-app"), "python", "nested", "file"), "utf8")).toBe("newer");
  });

  it("a cache whose bytes do not hash to what was written is not used", async () => {
    const first = await node();
    await keepOne(first, "tampered-app", "python", "original");
    // A valid tar of the same folder with other content, under the sha256 the keep recorded.
    const key = "caches/tampered-app/python.tar";
    const { Metadata } = await raw.send(new HeadObjectCommand({ Bucket: "sf-caches-test", Key: key }));
    const other = await dirs.make("sf-cache-other-");
    await mkdir(path.join(other, "python", "nested"), { recursive: true });
    await writeFile(path.join(other, "python", "nested", "file"), "tampered");
    const tar = execFileSync("tar", ["-c", "-f", "-", "-C", other, "python"]);
    await raw.send(new PutObjectCommand({ Bucket: "sf-caches-test", Key: key, Body: tar, Metadata }));
    const second = await node();
    await second.restore("tampered-app", "b2", log);
    expect(await readdir(second.appDir("tampered-app"))).toEqual([]);
  });

  it("deleting an app removes its caches from the store", async () => {
    const first = await node();
    await keepOne(first, "gone-app", "python", "x");
    expect(await remote.keys("gone-app")).toEqual(["python"]);
    await first.forget("gone-app");
    expect(await remote.keys("gone-app")).toEqual([]);
  });
});
