import { randomBytes } from "node:crypto";
import { readdir, rm, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { ListMultipartUploadsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStorageSetting, type StorageSetting } from "../../../src/config/storage-setting.js";
import { createS3Bucket, type ObjectBucket } from "../../../src/slug/s3-bucket.js";
import { createS3SlugStore } from "../../../src/slug/s3-slug-store.js";
import { parseSlugId } from "../../../src/slug/slug-store.js";
import { freePort } from "../../helpers/registry.js";
import { slugStoreContract } from "../../helpers/slug-store-contract.js";
import { startTestSwift, type TestSwift } from "../../helpers/swift.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { until } from "../../helpers/until.js";

/** The object store slug store against a real OpenStack Swift (s3api) the test starts itself. */
describe("S3 slug store (OpenStack Swift)", () => {
  const dirs = tmpDirs();
  let swift: TestSwift;
  let setting: StorageSetting;
  let bucket: ObjectBucket;
  let raw: S3Client;
  let spool: string;

  const settingFor = (name: string, env = swift.env, endpoint = swift.endpoint): StorageSetting => {
    const parsed = parseStorageSetting(`s3://${name}?endpoint=${endpoint}&region=us-east-1`, env);
    if ("errors" in parsed) throw new Error(parsed.errors.join("; "));
    return parsed;
  };
  const keyOf = (id: string): string => {
    const hex = parseSlugId(id)!;
    return `sha256/${hex.slice(0, 2)}/${hex}.tar.gz`;
  };
  const pendingUploads = async (): Promise<string[]> =>
    ((await raw.send(new ListMultipartUploadsCommand({ Bucket: setting.bucket }))).Uploads ?? []).map((u) => `upload ${u.Key}`);

  beforeAll(async () => {
    swift = await startTestSwift();
    setting = settingFor("sf-slugs-test");
    bucket = createS3Bucket(setting, { multipartFrom: 6 * 1024 * 1024, partSize: 5 * 1024 * 1024 });
    expect(await bucket.ensure()).toBe("created");
    expect(await bucket.ensure()).toBe("exists");
    raw = new S3Client({
      endpoint: swift.endpoint, region: "us-east-1", forcePathStyle: true,
      credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED",
    });
    spool = await dirs.make("sf-s3-spool-");
  }, 60_000);
  afterAll(async () => {
    raw?.destroy();
    await swift?.stop();
    await dirs.cleanup();
  });

  describe("the slug store contract", () => {
    slugStoreContract(() => ({
      store: () => createS3SlugStore(bucket, spool),
      async overwrite(id, bytes) {
        await raw.send(new PutObjectCommand({ Bucket: setting.bucket, Key: keyOf(id), Body: bytes }));
      },
      leftovers: async () => [...(await readdir(spool)), ...(await pendingUploads())],
    }));
  });

  it("stores a large slug as a multipart upload, and reads it back verified", async () => {
    const store = createS3SlugStore(bucket, spool);
    const bytes = randomBytes(13 * 1024 * 1024);
    const stored = await store.put(Readable.from([bytes.subarray(0, 7_000_000), bytes.subarray(7_000_000)]));
    expect(stored.sizeBytes).toBe(bytes.length);
    // A multipart upload's ETag is "<md5 of the parts' md5s>-<parts>".
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: setting.bucket, Prefix: keyOf(stored.id) }));
    expect(listed.Contents?.[0]?.ETag).toMatch(/-3"?$/);
    expect((await buffer((await store.get(stored.id))!)).equals(bytes)).toBe(true);
    // Compared with equals(): toEqual walks a Buffer byte by byte (seconds for 2 MB).
    expect((await store.readRange(stored.id, 6_000_000, 2_000_000))?.equals(bytes.subarray(6_000_000, 8_000_000))).toBe(true);
    expect(await pendingUploads()).toEqual([]);
    expect(await readdir(spool)).toEqual([]);
  });

  it("a multipart upload that fails part-way leaves no object at the key and no parts behind", async () => {
    const file = `${spool}/../sf-s3-abort-${process.pid}.bin`;
    await writeFile(file, randomBytes(40 * 1024 * 1024));
    try {
      const controller = new AbortController();
      const upload = bucket.putFile("sha256/ab/aborted.tar.gz", file, 40 * 1024 * 1024, { signal: controller.signal });
      // Once the upload has begun (its first part is in flight), it is cut.
      await until(async () => (await pendingUploads()).length > 0, 10_000);
      controller.abort(new Error("the build was cancelled"));
      await expect(upload).rejects.toMatchObject({ code: "STORAGE_UNAVAILABLE" });
      expect(await bucket.head("sha256/ab/aborted.tar.gz")).toBeUndefined();
      await until(async () => (await pendingUploads()).length === 0, 10_000);
    } finally {
      await rm(file, { force: true });
    }
  });

  it("keeps a slug's member index beside it, and deletes both together", async () => {
    const store = createS3SlugStore(bucket, spool);
    const { id } = await store.put(Readable.from([randomBytes(2048)]));
    const index = { slugId: id, members: [{ offset: 0, bytes: 2048, rawBytes: 4096, sha256: "ab".repeat(32) }] };
    await store.putMemberIndex!(index);
    expect(await store.getMemberIndex!(id)).toEqual(index);
    const hex = parseSlugId(id)!;
    const listed = await raw.send(new ListObjectsV2Command({ Bucket: setting.bucket, Prefix: `sha256/${hex.slice(0, 2)}/${hex}` }));
    expect(listed.Contents?.map((c) => c.Key).sort()).toEqual([`sha256/${hex.slice(0, 2)}/${hex}.members.json`, keyOf(id)]);
    await store.delete(id);
    expect(await store.getMemberIndex!(id)).toBeUndefined();
  });

  it("a store that does not answer, or refuses the credentials, fails with a coded error naming the endpoint", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = createS3Bucket(settingFor("sf-slugs-test", swift.env, closed));
    await expect(down.ensure()).rejects.toMatchObject({ code: "STORAGE_UNAVAILABLE", message: expect.stringContaining(closed) as unknown });
    const wrong = createS3Bucket(settingFor("sf-slugs-test", { AWS_ACCESS_KEY_ID: "test:tester", AWS_SECRET_ACCESS_KEY: "wrong" }));
    await expect(wrong.ensure()).rejects.toMatchObject({ code: "STORAGE_UNAVAILABLE", message: expect.stringMatching(/access denied: check AWS_ACCESS_KEY_ID/) as unknown });
    const store = createS3SlugStore(down, spool);
    await expect(store.put(Readable.from([Buffer.from("x")]))).rejects.toMatchObject({ code: "STORAGE_UNAVAILABLE" });
    expect(await readdir(spool)).toEqual([]);
  });
});
