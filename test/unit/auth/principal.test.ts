import { beforeEach, describe, expect, it } from "vitest";
import { allows, refusal, visibleRelease } from "../../../src/auth/access.js";
import { actorOf, createAuthenticator, type Principal } from "../../../src/auth/principal.js";
import { hashSecret, isTokenScope, mintScopedToken, parseScopedToken, secretMatches } from "../../../src/auth/scoped-token.js";
import { silentLogger, type Logger } from "../../../src/log.js";
import type { MetadataStore, StoredToken } from "../../../src/store/types.js";
import { testStore } from "../../helpers/test-store.js";

const ADMIN_TOKEN = "admin-token-0123456789";
const basic = (password: string): string => `Basic ${Buffer.from(`git:${password}`).toString("base64")}`;

describe("scoped token format", () => {
  it("mints sfk_<id>_<secret>, keeps only the secret's hash, and parses its own tokens only", async () => {
    const minted = mintScopedToken();
    expect(minted.token).toMatch(/^sfk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseScopedToken(minted.token)!;
    expect(parsed.id).toBe(minted.id);
    expect(minted.secretSha256).toBe(hashSecret(parsed.secret));
    expect(minted.token).not.toContain(minted.secretSha256);
    expect(secretMatches(parsed.secret, minted.secretSha256)).toBe(true);
    expect(secretMatches(`${parsed.secret.slice(0, -1)}x`, minted.secretSha256)).toBe(false);
    for (const t of [ADMIN_TOKEN, `sfk_${minted.id}`, `sfk_${minted.id}_short`, `SFK_${minted.id}_${parsed.secret}`, `${minted.token}x`]) {
      expect(parseScopedToken(t)).toBeUndefined();
    }
    expect(mintScopedToken().id).not.toBe(minted.id);
  });
  it("knows its scopes", async () => {
    expect(isTokenScope("deploy")).toBe(true);
    expect(isTokenScope("read")).toBe(true);
    for (const s of ["admin", "write", "", undefined, "toString"]) expect(isTokenScope(s)).toBe(false);
  });
});

describe("createAuthenticator", () => {
  const t = testStore();
  let store: MetadataStore;
  beforeEach(async () => {
    store = t.store;
    await store.createApp("web");
  });

  const mint = async (scope: "deploy" | "read", app = "web") => {
    const minted = mintScopedToken();
    await store.createToken({ id: minted.id, app, scope, secretSha256: minted.secretSha256 });
    return minted;
  };

  it("knows the admin token and scoped tokens, as Bearer or Basic password", async () => {
    const auth = createAuthenticator({ adminToken: ADMIN_TOKEN, tokens: store, log: silentLogger() });
    const deploy = await mint("deploy");
    expect(await auth.resolve(`Bearer ${ADMIN_TOKEN}`, "basic-or-bearer")).toEqual({ kind: "admin" });
    expect(await auth.resolve(basic(ADMIN_TOKEN), "basic")).toEqual({ kind: "admin" });
    const expected: Principal = { kind: "token", id: deploy.id, app: "web", scope: "deploy" };
    expect(await auth.resolve(`Bearer ${deploy.token}`, "basic-or-bearer")).toEqual(expected);
    expect(await auth.resolve(basic(deploy.token), "basic")).toEqual(expected);
    // git sends Basic only.
    expect(await auth.resolve(`Bearer ${deploy.token}`, "basic")).toBeUndefined();
  });

  it("refuses no token, a wrong one, an unknown id, a wrong secret and a revoked token", async () => {
    const auth = createAuthenticator({ adminToken: ADMIN_TOKEN, tokens: store, log: silentLogger() });
    const read = await mint("read");
    const other = mintScopedToken();
    const { secret } = parseScopedToken(read.token)!;
    const wrongSecret = `sfk_${read.id}_${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`;
    for (const header of [undefined, "", "Bearer nope", `Bearer ${other.token}`, `Bearer ${wrongSecret}`, `Bearer ${ADMIN_TOKEN}x`]) {
      expect(await auth.resolve(header, "basic-or-bearer"), header).toBeUndefined();
    }
    expect(await auth.resolve(`Bearer ${read.token}`, "basic-or-bearer")).toMatchObject({ id: read.id, scope: "read" });
    await store.revokeToken(read.id);
    expect(await auth.resolve(`Bearer ${read.token}`, "basic-or-bearer")).toBeUndefined();
  });

  it("without a token store knows only the admin token; an empty admin token is never matched", async () => {
    const deploy = await mint("deploy");
    expect(await createAuthenticator({ adminToken: ADMIN_TOKEN, log: silentLogger() }).resolve(`Bearer ${deploy.token}`, "basic-or-bearer")).toBeUndefined();
    expect(await createAuthenticator({ adminToken: "", log: silentLogger() }).resolve(basic(""), "basic")).toBeUndefined();
  });

  it("notes the last use, and a failing note (a full disk) does not turn the token away", async () => {
    const deploy = await mint("deploy");
    const auth = createAuthenticator({ adminToken: ADMIN_TOKEN, tokens: store, log: silentLogger() });
    expect((await store.findToken(deploy.id))!.lastUsedAt).toBeNull();
    await auth.resolve(`Bearer ${deploy.token}`, "basic-or-bearer");
    expect((await store.findToken(deploy.id))!.lastUsedAt).toMatch(/^\d{4}-/);

    const full: Pick<MetadataStore, "findToken" | "touchToken"> = {
      findToken: (id): Promise<StoredToken | undefined> => store.findToken(id),
      touchToken: async () => {
        throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
      },
    };
    const warnings: unknown[] = [];
    const log = { child: () => ({ warn: (o: unknown) => warnings.push(o) }) } as unknown as Logger;
    const resolved = await createAuthenticator({ adminToken: ADMIN_TOKEN, tokens: full, log }).resolve(`Bearer ${deploy.token}`, "basic-or-bearer");
    expect(resolved).toMatchObject({ kind: "token", id: deploy.id });
    expect(warnings).toHaveLength(1);
  });
});

describe("access rules", () => {
  const admin: Principal = { kind: "admin" };
  const deploy: Principal = { kind: "token", id: "aaaaaaaaaaaa", app: "web", scope: "deploy" };
  const read: Principal = { kind: "token", id: "bbbbbbbbbbbb", app: "web", scope: "read" };

  it("admin may do anything; tokens act on their app within their scope; admin routes are admin's", async () => {
    for (const need of ["admin", "deploy", "read", "signed-in"] as const) expect(allows(admin, need, "any")).toBe(true);
    expect(allows(deploy, "deploy", "web")).toBe(true);
    expect(allows(deploy, "read", "web")).toBe(true);
    expect(allows(read, "read", "web")).toBe(true);
    expect(allows(read, "deploy", "web")).toBe(false);
    expect(allows(deploy, "read", "api")).toBe(false);
    expect(allows(deploy, "admin", "web")).toBe(false);
    expect(allows(read, "signed-in", undefined)).toBe(true);
    expect(refusal(read, "deploy", "web")).toContain("deploy token");
    expect(refusal(deploy, "read", "api")).toContain("is for web, not api");
    expect(actorOf(admin)).toBe("admin");
    expect(actorOf(deploy)).toBe("aaaaaaaaaaaa");
  });

  it("shows scoped tokens a release's config var names, not their values", async () => {
    const release = { app: "web", version: 2, slugId: "sha256:aa", config: { SECRET: "v4lue", MODE: "x" }, processTypes: {}, description: "d", createdAt: "t", image: null, imageError: null };
    expect(visibleRelease(admin, release)).toBe(release);
    const seen = visibleRelease(read, release);
    expect(seen).toEqual({ app: "web", version: 2, slugId: "sha256:aa", configVars: ["SECRET", "MODE"], processTypes: {}, description: "d", createdAt: "t", image: null, imageError: null });
    expect(JSON.stringify(seen)).not.toContain("v4lue");
  });
});
