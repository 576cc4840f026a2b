import { rmSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../../src/store/migrations.js";
import type { MetadataStore, MetadataTx } from "../../../src/store/types.js";
import { BACKENDS, testStore } from "../../helpers/test-store.js";

describe.each(BACKENDS)("store on %s: tokens and activity", (backend) => {
  const t = testStore(backend);
  let store: MetadataStore;
  beforeEach(async () => {
    store = t.store;
  });

  it("keeps tokens with their hash, lists them without it, revokes once, notes last use", async () => {
    await store.createApp("web");
    await store.createApp("api");
    const made = await store.createToken({ id: "aaaaaaaaaaaa", app: "web", scope: "deploy", secretSha256: "ab".repeat(32) });
    expect(made).toEqual({ id: "aaaaaaaaaaaa", app: "web", scope: "deploy", createdAt: expect.any(String), lastUsedAt: null, revokedAt: null });
    await store.createToken({ id: "bbbbbbbbbbbb", app: "api", scope: "read", secretSha256: "cd".repeat(32) });
    expect(await store.findToken("aaaaaaaaaaaa")).toMatchObject({ secretSha256: "ab".repeat(32), scope: "deploy" });
    expect((await store.listTokens()).map((t) => t.id)).toEqual(["aaaaaaaaaaaa", "bbbbbbbbbbbb"]);
    expect((await store.listTokens("api")).map((t) => t.id)).toEqual(["bbbbbbbbbbbb"]);
    expect(JSON.stringify(await store.listTokens())).not.toContain("abab");
    await expect(store.createToken({ id: "cccccccccccc", app: "web", scope: "admin" as "read", secretSha256: "ef".repeat(32) })).rejects.toThrow(/CHECK|check constraint/);
    await expect(store.createToken({ id: "dddddddddddd", app: "ghost", scope: "read", secretSha256: "ef".repeat(32) })).rejects.toThrow(/FOREIGN KEY|foreign key/);

    await store.touchToken("aaaaaaaaaaaa");
    expect((await store.findToken("aaaaaaaaaaaa"))!.lastUsedAt).toMatch(/^\d{4}-/);
    const revoked = (await store.revokeToken("aaaaaaaaaaaa"))!;
    expect(revoked.revokedAt).toMatch(/^\d{4}-/);
    expect((await store.revokeToken("aaaaaaaaaaaa"))!.revokedAt).toBe(revoked.revokedAt);
    expect(await store.revokeToken("zzzzzzzzzzzz")).toBeUndefined();
  });

  it("deletes an app's tokens with it; its activity stays, and `since` hides an earlier app of the same name", async () => {
    await store.recordActivity({ app: "web", actor: "admin", action: "app.create", detail: "first" }, (tx) => tx.createApp("web"));
    await store.createToken({ id: "aaaaaaaaaaaa", app: "web", scope: "read", secretSha256: "ab".repeat(32) });
    await store.recordActivity({ app: "web", actor: "admin", action: "app.delete", detail: "gone" }, (tx) => tx.deleteApp("web"));
    expect(await store.findToken("aaaaaaaaaaaa")).toBeUndefined();
    expect((await store.listActivity("web")).map((a) => a.action)).toEqual(["app.delete", "app.create"]);

    await new Promise((r) => setTimeout(r, 5));
    const again = await store.recordActivity({ app: "web", actor: "admin", action: "app.create", detail: "second" }, (tx) => tx.createApp("web"));
    expect((await store.listActivity("web")).map((a) => a.detail)).toEqual(["second", "gone", "first"]);
    expect((await store.listActivity("web", again.createdAt)).map((a) => a.detail)).toEqual(["second"]);
    expect(await store.listActivity("other")).toEqual([]);
  });

  it("records a change and its entry together, or neither; the detail can name what the change made", async () => {
    await store.createApp("web");
    await expect(store.recordActivity({ app: "web", actor: "admin", action: "rollback", detail: "never" }, (tx) => tx.rollback("web", 7))).rejects.toThrow(/no release v7/);
    expect(await store.listActivity("web")).toEqual([]);
    await expect(
      store.recordActivity({ app: "web", actor: "admin", action: "config", detail: () => { throw new Error("detail failed"); } }, (tx) => tx.updateConfigVars("web", { A: "1" })),
    ).rejects.toThrow(/detail failed/);
    expect(await store.getConfigVars("web")).toEqual({});
    await store.putSlug({ id: "sha256:aa", app: "web", sizeBytes: 1, commit: "c".repeat(40), buildpacks: [], stack: "debian-13", processTypes: {}, createdAt: new Date().toISOString() });
    const release = await store.recordActivity({ app: "web", actor: "aaaaaaaaaaaa", action: "release", detail: (r) => `v${r.version}` }, (tx: MetadataTx) =>
      tx.createDeployRelease("web", "sha256:aa", {}, "Deploy ccccccc"),
    );
    expect(release.version).toBe(1);
    expect(await store.listActivity("web")).toEqual([{ id: expect.any(Number), app: "web", actor: "aaaaaaaaaaaa", action: "release", detail: "v1", at: expect.any(String) }]);
  });

  it("records who pushed a build, and finds an app's own record of a shared slug", async () => {
    await store.createApp("web");
    await store.createApp("api");
    expect((await store.createBuild({ id: "b1", app: "web", commit: "abc", actor: "aaaaaaaaaaaa" })).actor).toBe("aaaaaaaaaaaa");
    expect((await store.createBuild({ id: "b2", app: "web", commit: "abc" })).actor).toBeNull();
    const slug = (app: string, createdAt: string) => ({ id: "sha256:aa", app, sizeBytes: 1, commit: app, buildpacks: [], stack: "debian-13", processTypes: {}, createdAt });
    await store.putSlug(slug("web", "2024-01-01T00:00:00.000Z"));
    await store.putSlug(slug("api", "2024-01-02T00:00:00.000Z"));
    expect((await store.getSlug("sha256:aa"))!.app).toBe("web");
    expect((await store.getSlug("sha256:aa", "api"))!.commit).toBe("api");
    expect(await store.getSlug("sha256:aa", "ghost")).toBeUndefined();
  });

  it("upgrades a database made before tokens: old builds keep their records, with no actor", async () => {
    await store.close();
    // An empty database, then the first version's schema and records.
    if (backend === "sqlite") rmSync(t.location);
    else await t.exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    await t.exec(`
      CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
      ${MIGRATIONS[0]![backend]}
      INSERT INTO schema_migrations (version, applied_at) VALUES (1, 'then');
      INSERT INTO apps (name, created_at) VALUES ('web', 'then');
      INSERT INTO builds (id, app, commit_sha, status, created_at) VALUES ('old', 'web', 'abc', 'succeeded', 'then');
    `);
    store = await t.reopen();
    expect(await store.getBuild("old")).toMatchObject({ id: "old", status: "succeeded", actor: null });
    expect(await store.listTokens()).toEqual([]);
  });
});
