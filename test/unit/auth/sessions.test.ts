import { beforeEach, describe, expect, it } from "vitest";
import { createAuthenticator, type Authenticator } from "../../../src/auth/principal.js";
import { mintScopedToken } from "../../../src/auth/scoped-token.js";
import { createSessions, SESSION_TTL_MS } from "../../../src/auth/sessions.js";
import { silentLogger } from "../../../src/log.js";
import type { MetadataStore } from "../../../src/store/types.js";
import { testStore } from "../../helpers/test-store.js";

const ADMIN_TOKEN = "admin-token-0123456789";

describe("dashboard sessions", () => {
  const t = testStore();
  let store: MetadataStore;
  let auth: Authenticator;
  let now: number;
  beforeEach(async () => {
    store = t.store;
    await store.createApp("web");
    auth = createAuthenticator({ adminToken: ADMIN_TOKEN, tokens: store, log: silentLogger() });
    now = 1_000_000;
  });
  const mint = async (scope: "deploy" | "read") => {
    const minted = mintScopedToken();
    await store.createToken({ id: minted.id, app: "web", scope, secretSha256: minted.secretSha256 });
    return minted;
  };

  it("starts a session for a token that authenticates, with a random id of its own and an end; none for any other", async () => {
    const sessions = createSessions(auth, { now: () => now });
    const a = (await sessions.start(ADMIN_TOKEN))!;
    const b = (await sessions.start(ADMIN_TOKEN))!;
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.id).not.toBe(a.id);
    expect(a).toMatchObject({ principal: { kind: "admin" }, expiresAt: now + SESSION_TTL_MS });
    expect(a.id).not.toContain(ADMIN_TOKEN);
    for (const token of ["", "nope", `${ADMIN_TOKEN}x`, mintScopedToken().token]) expect(await sessions.start(token), token).toBeUndefined();
    expect(await sessions.find(a.id)).toEqual(a);
  });

  it("ends at sign-out, at its end of life, and when its token is revoked or its app deleted", async () => {
    const sessions = createSessions(auth, { now: () => now, ttlMs: 1000 });
    const admin = (await sessions.start(ADMIN_TOKEN))!;
    sessions.end(admin.id);
    expect(await sessions.find(admin.id)).toBeUndefined();

    const expiring = (await sessions.start(ADMIN_TOKEN))!;
    now += 999;
    expect((await sessions.find(expiring.id))?.principal).toEqual({ kind: "admin" });
    now += 1;
    expect(await sessions.find(expiring.id)).toBeUndefined();

    const deploy = await mint("deploy");
    const session = (await sessions.start(deploy.token))!;
    expect((await sessions.find(session.id))?.principal).toEqual({ kind: "token", id: deploy.id, app: "web", scope: "deploy" });
    await store.revokeToken(deploy.id);
    expect(await sessions.find(session.id)).toBeUndefined();

    const read = (await sessions.start((await mint("read")).token))!;
    await store.deleteApp("web");
    expect(await sessions.find(read.id)).toBeUndefined();
    expect(await sessions.find("A".repeat(43))).toBeUndefined();
  });

  it("notes a scoped token's use at sign-in and on each request of its session", async () => {
    const touched: string[] = [];
    const tokens: Pick<MetadataStore, "findToken" | "touchToken"> = {
      findToken: (id) => store.findToken(id),
      touchToken: async (id) => void touched.push(id),
    };
    const sessions = createSessions(createAuthenticator({ adminToken: ADMIN_TOKEN, tokens, log: silentLogger() }));
    const read = await mint("read");
    const session = (await sessions.start(read.token))!;
    await sessions.find(session.id);
    await sessions.find(session.id);
    expect(touched).toEqual([read.id, read.id, read.id]);
  });
});
