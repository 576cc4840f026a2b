import { spawn } from "node:child_process";
import path from "node:path";
import { Readable } from "node:stream";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStoreRecorder } from "../../../src/builds/store-recorder.js";
import type { Builder } from "../../../src/builds/types.js";
import { silentLogger } from "../../../src/log.js";
import { createFsSlugStore } from "../../../src/slug/fs-slug-store.js";
import { openPostgresStore } from "../../../src/store/postgres-store.js";
import type { BuildRecord, MetadataStore, ReleaseRecord } from "../../../src/store/types.js";
import { FakeBuilder } from "../../helpers/fake-builder.js";
import { GitClient } from "../../helpers/git-client.js";
import { testPostgres } from "../../helpers/postgres.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { startServer, type RunningServer } from "./server.js";

// The server with SLUGFORGE_DATABASE_URL set keeps its metadata in the run's PostgreSQL. Builds are
// a fake at our Builder interface (the point here is the store): it prints lines and makes a slug,
// and the real store recorder keeps them, on a pool of its own, as the build node of a pair would.
const REPO = path.resolve(import.meta.dirname, "../../..");
const dirs = tmpDirs();
let url: string;
let git: GitClient;
let recorderStore: MetadataStore;
let nodeA: RunningServer;

function recordingBuilder(dataDir: string): Builder {
  const fake = new FakeBuilder({ steps: ["-----> Fake app detected", "-----> compiled"] });
  const slugs = createFsSlugStore(path.join(dataDir, "slugs"));
  const recorder = createStoreRecorder(recorderStore, { stack: "debian-13", log: silentLogger() });
  let n = 0;
  return {
    async build(request, output, signal) {
      const buildId = `pg-${++n}-${request.commit.slice(0, 7)}`;
      await recorder.queued(buildId, request);
      await recorder.started(buildId);
      const tee = { write: (chunk: string | Buffer) => (void recorder.output(buildId, Buffer.from(chunk)), output.write(chunk)) };
      const result = { ...(await fake.build(request, tee, signal)), buildId };
      const slug = await slugs.put(Readable.from([zlib.gzipSync(request.commit)]));
      const recorded = await recorder.finished(request, { ...result, slug: { ...slug, sha256: slug.id.slice(7) }, processTypes: { web: "serve" } });
      for (const line of recorded?.lines ?? []) output.write(`       ${line}\n`);
      return result;
    },
  };
}

describe("a server whose metadata is in PostgreSQL", () => {
  beforeAll(async () => {
    url = await (await testPostgres()).createDatabase();
    git = new GitClient(await dirs.make("sf-pgm-home-"));
    recorderStore = await openPostgresStore(url, silentLogger());
    const dataDir = await dirs.make("sf-pgm-a-");
    nodeA = await startServer(dataDir, { SLUGFORGE_DATABASE_URL: url }, { builder: recordingBuilder(dataDir) });
  });
  afterAll(async () => {
    await nodeA?.close();
    await recorderStore?.close();
    if (url) await (await testPostgres()).dropDatabase(url);
    await dirs.cleanup();
  });

  it("keeps a push's build, its output and its release there; another node on the same database serves the same", async () => {
    const work = await dirs.make("sf-pgm-work-");
    const first = await git.initRepo(work);
    const push = await git.run(["push", nodeA.url("shared"), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain("Released v1");

    const builds = (await nodeA.api<BuildRecord[]>("GET", "/api/apps/shared/builds")).body;
    expect(builds).toMatchObject([{ app: "shared", commit: first, status: "succeeded", actor: "admin" }]);
    const output = await nodeA.api<string>("GET", `/api/builds/${builds[0]!.id}/output`);
    expect(output.body).toBe("-----> Fake app detected\n-----> compiled\n");
    // The API's own changes go to the same database: a config change is v2.
    expect((await nodeA.api("PATCH", "/api/apps/shared/config-vars", { GREETING: "hi" })).body).toMatchObject({ release: { version: 2 } });
    await git.commit(work, "app.txt", "two\n", "second");
    expect((await git.run(["push", nodeA.url("shared"), "HEAD:main"], work)).code).toBe(0);

    const nodeB = await startServer(await dirs.make("sf-pgm-b-"), { SLUGFORGE_DATABASE_URL: url });
    try {
      const releases = (await nodeB.api<ReleaseRecord[]>("GET", "/api/apps/shared/releases")).body;
      expect(releases.map((r) => [r.version, r.description])).toEqual([
        [3, `Deploy ${(await git.ok(["rev-parse", "HEAD"], work)).slice(0, 7)}`],
        [2, "Set GREETING config vars"],
        [1, `Deploy ${first.slice(0, 7)}`],
      ]);
      expect(releases[0]!.config).toEqual({ GREETING: "hi" });
      expect((await nodeB.api("POST", "/api/apps/shared/releases", { release: 1 })).body).toMatchObject({ version: 4, description: "Rollback to v1" });
      expect((await nodeA.api<ReleaseRecord[]>("GET", "/api/apps/shared/releases")).body.map((r) => r.version)).toEqual([4, 3, 2, 1]);
      const activity = (await nodeA.api<{ action: string }[]>("GET", "/api/apps/shared/activity")).body.map((a) => a.action);
      expect(activity).toEqual(["rollback", "release", "push", "config", "release", "push", "app.create"]);
    } finally {
      await nodeB.close();
    }
  });

  it("`slugforge serve` refuses to start on a database it cannot use or a URL it cannot read, saying why, without a stack trace", async () => {
    const serve = (databaseUrl: string) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const proc = spawn(process.execPath, [path.join(REPO, "bin/slugforge.js"), "serve"], {
          env: { PATH: process.env.PATH, PORT: "0", SLUGFORGE_HOST: "127.0.0.1", SLUGFORGE_DATA: path.join(nodeA.dataDir, "unused"), SLUGFORGE_TOKEN: "pg-token-0123456789", SLUGFORGE_DATABASE_URL: databaseUrl },
          stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        proc.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
        proc.on("close", (code) => resolve({ code, stderr }));
      });
    const down = await serve("postgres://slugforge:hunter2@127.0.0.1:1/meta");
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/error DATABASE_UNAVAILABLE.*: the metadata database postgres:\/\/slugforge:\*\*\*\*@127\.0\.0\.1:1\/meta cannot be used: .*ECONNREFUSED/);
    expect(down.stderr).toContain("Check SLUGFORGE_DATABASE_URL");
    const bad = await serve("mysql://root:hunter2@db/meta");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("SLUGFORGE_DATABASE_URL: not a PostgreSQL URL (its scheme is mysql)");
    for (const { stderr } of [down, bad]) {
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(stderr).not.toContain("hunter2");
    }
  });
});
