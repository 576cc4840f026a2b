import path from "node:path";
import pg from "pg";
import { MIGRATIONS } from "../../../src/store/migrations.js";
import { describe, expect, it } from "vitest";
import { SlugforgeError } from "../../../src/errors.js";
import { silentLogger } from "../../../src/log.js";
import { openMetadataStore } from "../../../src/store/open-store.js";
import { openPostgresStore } from "../../../src/store/postgres-store.js";
import type { MetadataStore } from "../../../src/store/types.js";
import { testPostgres } from "../../helpers/postgres.js";
import { testStore } from "../../helpers/test-store.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

// Several nodes share one PostgreSQL database: each test's second store (t.another(), a pool of
// its own) is another node.
describe("metadata in PostgreSQL shared by several nodes", () => {
  const t = testStore("postgres");
  const slug = (id: string) => ({ id, app: "web", sizeBytes: 10, commit: "c".repeat(40), buildpacks: [], stack: "debian-13", processTypes: {}, createdAt: new Date().toISOString() });

  it("two nodes taking release numbers for one app at once never give out the same vN, nor leave a gap", async () => {
    const a = t.store;
    const b = await t.another();
    await a.createApp("web");
    await a.putSlug(slug("sha256:aa"));
    await a.createDeployRelease("web", "sha256:aa", {}, "Deploy first");
    // Deploys, config changes and rollbacks, half on each node, all at once.
    const makers: ((s: MetadataStore, i: number) => Promise<unknown>)[] = [
      (s, i) => s.createDeployRelease("web", "sha256:aa", {}, `Deploy ${i}`),
      (s, i) => s.updateConfigVars("web", { [`VAR_${i}`]: String(i) }),
      (s) => s.rollback("web", 1),
    ];
    const made = await Promise.all(Array.from({ length: 60 }, (_, i) => makers[i % 3]!(i % 2 === 0 ? a : b, i)));
    expect(made).toHaveLength(60);
    const versions = (await b.listReleases("web")).map((r) => r.version);
    expect(versions).toEqual(Array.from({ length: 61 }, (_, i) => 61 - i));
    expect(await a.listReleases("web")).toEqual(await b.listReleases("web"));
  });

  it("build output written on one node is read on another after a sequence number, byte for byte", async () => {
    const a = t.store;
    const b = await t.another();
    await a.createApp("web");
    await a.createBuild({ id: "b1", app: "web", commit: "abc" });
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (const chunk of [Buffer.from("-----> one\n"), binary, Buffer.from("ünïcödé ✓\n")]) await a.appendBuildOutput("b1", chunk);
    const all = await b.readBuildOutput("b1");
    expect(all.map((c) => c.seq)).toEqual([1, 2, 3]);
    expect(all[1]!.chunk.equals(binary)).toBe(true);
    expect(Buffer.concat(all.map((c) => c.chunk)).equals(Buffer.concat([Buffer.from("-----> one\n"), binary, Buffer.from("ünïcödé ✓\n")]))).toBe(true);
    expect((await b.readBuildOutput("b1", 2)).map((c) => c.chunk.toString())).toEqual(["ünïcödé ✓\n"]);
    await b.appendBuildOutput("b1", Buffer.from("from b\n"));
    expect((await a.readBuildOutput("b1", 3)).map((c) => [c.seq, c.chunk.toString()])).toEqual([[4, "from b\n"]]);
  });

  it("two nodes claiming due webhook deliveries at once each take different ones", async () => {
    const a = t.store;
    const b = await t.another();
    await a.createApp("web");
    await a.createWebhook({ id: "hook00000001", app: "web", url: "https://example.com/h", secret: "0123456789abcdef", events: ["release"] });
    for (let i = 0; i < 20; i++) await a.queueDeliveries("web", "release", JSON.stringify({ i }));
    const now = new Date(Date.now() + 1000).toISOString();
    const lease = new Date(Date.now() + 60_000).toISOString();
    const taken = await Promise.all([a, b, a, b].map((s) => s.claimDueDeliveries(now, lease, 8)));
    const ids = taken.flat().map((d) => d.id);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
  });

  it("nodes starting at once on an empty database migrate it once", async () => {
    const url = await (await testPostgres()).createDatabase();
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore(url, silentLogger())));
    try {
      await stores[0]!.createApp("web");
      expect(await stores[2]!.getApp("web")).toMatchObject({ name: "web" });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query("SELECT version FROM schema_migrations ORDER BY version");
      await client.end();
      expect(rows.map((r: { version: number }) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await (await testPostgres()).dropDatabase(url);
    }
  });

  it("a database that cannot be used is DATABASE_UNAVAILABLE, saying why, the password hidden", async () => {
    const refused = await openPostgresStore("postgres://slugforge:hunter2@127.0.0.1:1/meta", silentLogger()).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(SlugforgeError);
    expect(refused).toMatchObject({ code: "DATABASE_UNAVAILABLE", message: expect.stringMatching(/^the metadata database postgres:\/\/slugforge:\*\*\*\*@127\.0\.0\.1:1\/meta cannot be used: .*ECONNREFUSED/) });
    expect((refused as Error).message).not.toContain("hunter2");
    const missing = t.location.replace(/\/t_\d+_\d+\?/, "/no_such_database?");
    await expect(openPostgresStore(missing, silentLogger())).rejects.toMatchObject({ code: "DATABASE_UNAVAILABLE", message: expect.stringContaining('database "no_such_database" does not exist') });
  });
});

describe("the store's front door", () => {
  const dirs = tmpDirs();

  it("opens SQLite in the data folder unless SLUGFORGE_DATABASE_URL names a PostgreSQL database", async () => {
    const dataDir = await dirs.make("sf-open-");
    const url = await (await testPostgres()).createDatabase();
    try {
      const sqlite = await openMetadataStore({ dataDir, databaseUrl: undefined }, silentLogger());
      await sqlite.createApp("local");
      await sqlite.close();
      const postgres = await openMetadataStore({ dataDir: path.join(dataDir, "unused"), databaseUrl: url }, silentLogger());
      expect(await postgres.listApps()).toEqual([]);
      await postgres.close();
      const again = await openMetadataStore({ dataDir, databaseUrl: undefined }, silentLogger());
      expect((await again.listApps()).map((a) => a.name)).toEqual(["local"]);
      await again.close();
    } finally {
      await (await testPostgres()).dropDatabase(url);
      await dirs.cleanup();
    }
  });
});
