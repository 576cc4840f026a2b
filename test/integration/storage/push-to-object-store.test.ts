import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, cp } from "node:fs/promises";
import { Writable } from "node:stream";
import path from "node:path";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse-config.js";
import { createLogger, silentLogger } from "../../../src/log.js";
import { createServer } from "../../../src/main.js";
import { freePort } from "../../helpers/registry.js";
import { GitClient } from "../../helpers/git-client.js";
import { startTestSwift, type TestSwift } from "../../helpers/swift.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { E2E_TOKEN, startServer, type RunningServer } from "../e2e/server.js";

/*
 * The whole server with SLUGFORGE_STORAGE_URL pointing at a real OpenStack Swift (s3api) the test
 * starts itself: a real `git push` makes a slug that is in the bucket (not in the data folder),
 * verifies, and runs in the release phase (read back from the store); the kept build cache goes to
 * the bucket, and a second node with an empty data folder builds the app from it.
 */
const FIXTURE_BUILDPACKS = path.resolve(import.meta.dirname, "../../fixtures/buildpacks");
const BUCKET = "sf-e2e-slugs";
const dirs = tmpDirs();
let swift: TestSwift;
let s3: S3Client;
let git: GitClient;
let work: string;
let first: RunningServer | undefined;
let firstData: string;
let second: RunningServer | undefined;

beforeAll(async () => {
  swift = await startTestSwift();
  s3 = new S3Client({
    endpoint: swift.endpoint, region: "us-east-1", forcePathStyle: true,
    credentials: { accessKeyId: swift.accessKeyId, secretAccessKey: swift.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED",
  });
  git = new GitClient(await dirs.make("sf-s3e2e-home-"));
  const bp = await dirs.make("sf-s3e2e-bp-");
  await cp(path.join(FIXTURE_BUILDPACKS, "cacher"), bp, { recursive: true });
  await git.ok(["init", "-q", "-b", "main"], bp);
  await git.ok(["add", "-A"], bp);
  await git.ok(["commit", "-q", "-m", "cacher"], bp);
  work = await dirs.make("sf-s3e2e-app-");
  await git.initRepo(work);
  await git.commit(work, ".buildpacks", `file://${bp}\n`, "buildpack");
  await git.commit(work, "CACHE", "", "cacher detects this");
  // 10 MB that does not compress: its blocks are the ones a later slug copies instead of compressing.
  await git.commit(work, "big.bin", randomBytes(10 * 1024 * 1024), "bulk");
  await git.commit(work, "Procfile", 'release: echo "release sees count $(cat /app/count-seen)"\nweb: sleep 1000\n', "procfile");
}, 120_000);
afterAll(async () => {
  await first?.close();
  await second?.close();
  s3?.destroy();
  await swift?.stop();
  await dirs.cleanup();
});

const storageEnv = (): Record<string, string> => ({ SLUGFORGE_STORAGE_URL: swift.storageUrl(BUCKET), ...swift.env });
const keys = async (prefix: string): Promise<string[]> =>
  ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((c) => c.Key!).sort();

describe("slugs and build caches in an object store", () => {
  it("a push stores its slug in the bucket, verified and released; its cache follows in the background", async () => {
    const dataDir = await dirs.make("sf-s3e2e-data1-");
    firstData = dataDir;
    first = await startServer(dataDir, storageEnv());
    const push = await git.run(["push", first.url("stored"), "main"], work);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain("Cache count was 0");
    // The release phase ran in a container of the slug, read back from the store.
    expect(push.stderr).toContain("release sees count 0");
    const [release] = (await first.api<{ version: number; slugId: string }[]>("GET", "/api/apps/stored/releases")).body;
    expect(release?.version).toBe(1);
    const hex = release!.slugId.slice(7);

    // In the bucket, under its sha256, its member index beside it; not in the data folder.
    expect(await keys(`sha256/${hex.slice(0, 2)}/${hex}`)).toEqual([`sha256/${hex.slice(0, 2)}/${hex}.members.json`, `sha256/${hex.slice(0, 2)}/${hex}.tar.gz`]);
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `sha256/${hex.slice(0, 2)}/${hex}.tar.gz` }));
    expect(createHash("sha256").update(await object.Body!.transformToByteArray()).digest("hex")).toBe(hex);
    expect(existsSync(path.join(dataDir, "slugs", "sha256"))).toBe(false);
    const blob = await fetch(`${first.base}/api/slugs/${release!.slugId}/blob`, { headers: { Authorization: `Bearer ${E2E_TOKEN}` } });
    expect(createHash("sha256").update(Buffer.from(await blob.arrayBuffer())).digest("hex")).toBe(hex);

    // Closing waits for the background work: the kept cache is in the bucket then.
    await first.close();
    first = undefined;
    const caches = await keys("caches/stored/");
    expect(caches).toHaveLength(1);
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: caches[0] }));
    expect(head.Metadata?.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a second node with an empty data folder builds the app with the cache the first one kept, reusing its slug's blocks", async () => {
    const dataDir = await dirs.make("sf-s3e2e-data2-");
    // The metadata the nodes share (a copy of the first node's, as a shared database would give):
    // the app's current slug is the first node's, whose member index is only in the store.
    await copyFile(path.join(firstData, "metadata.db"), path.join(dataDir, "metadata.db"));
    const lines: string[] = [];
    const log = createLogger("info", new Writable({ write: (chunk: Buffer, _e, done) => void (lines.push(...chunk.toString().split("\n").filter(Boolean)), done()) }));
    second = await startServer(dataDir, storageEnv(), { log });
    await git.commit(work, "CHANGE", "1\n", "a change");
    const push = await git.run(["push", second.url("stored"), "main"], work);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain("Cache count was 1");
    expect(push.stderr).toContain("release sees count 1");
    expect(existsSync(path.join(dataDir, "cache", "stored"))).toBe(true);
    const written = lines.map((l) => JSON.parse(l) as { msg: string; reusedBytes?: number }).find((l) => l.msg === "slug written");
    // Most of big.bin's blocks (all but the one holding its header, whose mtime is the new commit's).
    expect(written?.reusedBytes).toBeGreaterThan(5 * 1024 * 1024);
  });

  it("a store that goes away fails the push with STORAGE_UNAVAILABLE, and the server goes on", async () => {
    await swift.stop();
    await git.commit(work, "CHANGE", "2\n", "another change");
    const push = await git.run(["push", second!.url("stored"), "main"], work);
    expect(push.code).toBe(1);
    expect(push.stderr).toMatch(/STORAGE_UNAVAILABLE/);
    expect(push.stderr).toContain(swift.endpoint);
    expect((await fetch(`${second!.base}/healthz`)).status).toBe(200);
    const [build] = (await second!.api<{ status: string; errorCode: string }[]>("GET", "/api/apps/stored/builds")).body;
    expect(build).toMatchObject({ status: "failed", errorCode: "STORAGE_UNAVAILABLE" });
  });

  it("an object store that does not answer stops the start with a message naming it", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const parsed = parseConfig({ SLUGFORGE_DATA: await dirs.make("sf-s3e2e-data3-"), SLUGFORGE_TOKEN: E2E_TOKEN, SLUGFORGE_STORAGE_URL: `s3://${BUCKET}?endpoint=${closed}`, ...swift.env });
    expect(parsed.errors).toBeUndefined();
    await expect(createServer(parsed.config!, { log: silentLogger() })).rejects.toMatchObject({
      code: "STORAGE_UNAVAILABLE",
      message: expect.stringContaining(`bucket ${BUCKET} at ${closed}`) as unknown,
    });
  });
});
