import http from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createApiHandler } from "../../../src/api/api-handler.js";
import { createAuthenticator } from "../../../src/auth/principal.js";
import { SlugforgeError } from "../../../src/errors.js";
import { silentLogger } from "../../../src/log.js";
import { openSqliteStore } from "../../../src/store/sqlite-store.js";
import type { MetadataStore } from "../../../src/store/types.js";

const TOKEN = "test-token-123";

describe("HTTP API", () => {
  let dir: string;
  let store: MetadataStore;
  let server: http.Server;
  let base: string;
  let removed: string[];
  let busy: boolean;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "sf-api-"));
    store = openSqliteStore(path.join(dir, "meta.db"));
    removed = [];
    busy = false;
    const handler = createApiHandler({
      auth: createAuthenticator({ adminToken: TOKEN, tokens: store, log: silentLogger() }),
      store,
      log: silentLogger(),
      queueDepth: () => 3,
      followIntervalMs: 20,
      removeApp: async (name) => {
        if (busy) throw new SlugforgeError("APP_BUSY", `a push to ${name} is being received or built; the app was not deleted`);
        removed.push(name);
      },
      slugs: { get: async (id) => (id === "sha256:aa" ? Readable.from([Buffer.from("slug-bytes")]) : undefined) },
    });
    server = http.createServer((req, res) => {
      if (!handler(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, p: string, body?: unknown, token: string | null = TOKEN) =>
    fetch(`${base}${p}`, {
      method,
      headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });

  it("refuses requests without the token, with Basic or Bearer accepted", async () => {
    const res = await call("GET", "/api/apps", undefined, null);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Basic/);
    expect(await res.json()).toMatchObject({ id: "UNAUTHORIZED" });
    expect((await call("GET", "/api/apps", undefined, "wrong")).status).toBe(401);
    const basic = await fetch(`${base}/api/apps`, { headers: { Authorization: `Basic ${Buffer.from(`git:${TOKEN}`).toString("base64")}` } });
    expect(basic.status).toBe(200);
  });

  it("creates apps, validates names, sets config and rolls back", async () => {
    expect((await call("POST", "/api/apps", { name: "Bad_Name" })).status).toBe(400);
    expect((await call("POST", "/api/apps", { name: "web" })).status).toBe(201);
    expect((await call("GET", "/api/apps/nope")).status).toBe(404);
    await store.putSlug({ id: "sha256:aa", app: "web", sizeBytes: 10, commit: "abc", buildpacks: [], stack: "debian-13", processTypes: {}, createdAt: new Date().toISOString() });
    await store.createDeployRelease("web", "sha256:aa", {}, "Deploy abc");
    const patched = await (await call("PATCH", "/api/apps/web/config-vars", { GREETING: "hi" })).json();
    expect(patched).toMatchObject({ config: { GREETING: "hi" }, release: { version: 2, description: "Set GREETING config vars" } });
    expect((await call("PATCH", "/api/apps/web/config-vars", { "1BAD": "x" })).status).toBe(400);
    const rolled = await (await call("POST", "/api/apps/web/releases", { release: "v1" })).json();
    expect(rolled).toMatchObject({ version: 3, description: "Rollback to v1", slugId: "sha256:aa" });
    const blob = await call("GET", "/api/slugs/sha256:aa/blob");
    expect(await blob.text()).toBe("slug-bytes");
    expect((await call("GET", "/api/slugs/sha256:zz")).status).toBe(404);
  });

  it("a config PATCH that changes nothing answers release null and makes no release", async () => {
    expect((await call("POST", "/api/apps", { name: "web" })).status).toBe(201);
    await store.putSlug({ id: "sha256:aa", app: "web", sizeBytes: 10, commit: "abc", buildpacks: [], stack: "debian-13", processTypes: {}, createdAt: new Date().toISOString() });
    await store.createDeployRelease("web", "sha256:aa", {}, "Deploy abc");
    expect((await (await call("PATCH", "/api/apps/web/config-vars", { GREETING: "hi" })).json()) as unknown).toMatchObject({ release: { version: 2 } });
    for (const body of [{}, { GREETING: "hi" }, { MISSING: null }]) {
      const res = await call("PATCH", "/api/apps/web/config-vars", body);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ config: { GREETING: "hi" }, release: null });
    }
    expect(((await (await call("GET", "/api/apps/web/releases")).json()) as unknown[]).length).toBe(2);
  });

  it("a rollback names its release as N or \"vN\"; anything else is BAD_REQUEST saying what to send", async () => {
    expect((await call("POST", "/api/apps", { name: "web" })).status).toBe(201);
    await store.putSlug({ id: "sha256:aa", app: "web", sizeBytes: 10, commit: "abc", buildpacks: [], stack: "debian-13", processTypes: {}, createdAt: new Date().toISOString() });
    await store.createDeployRelease("web", "sha256:aa", {}, "Deploy abc");
    for (const release of ["0x1", "1e0", "1.0", " 1", "v01", 0, 1.5, "one"]) {
      const res = await call("POST", "/api/apps/web/releases", { release });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { id: string; message: string };
      expect(body.id).toBe("BAD_REQUEST");
      expect(body.message).toContain('{"release": 3} or {"release": "v3"}');
    }
    for (const release of [1, "1", "v1"]) expect((await call("POST", "/api/apps/web/releases", { release })).status).toBe(201);
    expect(((await (await call("GET", "/api/apps/web/releases")).json()) as unknown[]).length).toBe(4);
  });

  it("deletes an app with its repo and caches, but not while a push to it runs", async () => {
    expect((await call("POST", "/api/apps", { name: "doomed" })).status).toBe(201);
    busy = true;
    const refused = await call("DELETE", "/api/apps/doomed");
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ id: "APP_BUSY" });
    expect((await call("GET", "/api/apps/doomed")).status).toBe(200);
    busy = false;
    const deleted = await call("DELETE", "/api/apps/doomed");
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ name: "doomed", deleted: true });
    expect(removed).toEqual(["doomed"]);
    expect((await call("GET", "/api/apps/doomed")).status).toBe(404);
    expect((await call("DELETE", "/api/apps/doomed")).status).toBe(404);
    expect(removed).toEqual(["doomed"]);
  });

  it("follows a running build's output until it ends", async () => {
    await store.createApp("web");
    await store.createBuild({ id: "b1", app: "web", commit: "abc" });
    await store.updateBuild("b1", { status: "building" });
    await store.appendBuildOutput("b1", Buffer.from("first\n"));
    const pending = call("GET", "/api/builds/b1/output").then((r) => r.text());
    setTimeout(() => {
      void store.appendBuildOutput("b1", Buffer.from("second\n")).then(() => store.updateBuild("b1", { status: "succeeded" }));
    }, 100);
    expect(await pending).toBe("first\nsecond\n");
  });

  it("answers as data that a browser will not run: nosniff and a sandboxing Content-Security-Policy", async () => {
    await store.createApp("web");
    await store.createBuild({ id: "b2", app: "web", commit: "abc" });
    await store.appendBuildOutput("b2", Buffer.from("<script>alert(1)</script>\n"));
    await store.updateBuild("b2", { status: "failed" });
    for (const [p, token] of [["/api/builds/b2/output", TOKEN], ["/api/apps", TOKEN], ["/api/apps", null]] as const) {
      const res = await call("GET", p, undefined, token);
      expect(res.headers.get("x-content-type-options"), p).toBe("nosniff");
      expect(res.headers.get("content-security-policy"), p).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
      await res.text();
    }
  });

  it("serves Prometheus metrics", async () => {
    const text = await (await call("GET", "/metrics")).text();
    expect(text).toContain('slugforge_builds_total{status="succeeded"} 0');
    expect(text).toContain("slugforge_build_queue_depth 3");
    expect(text).toContain("slugforge_slug_bytes 0");
    // One engine (no SLUGFORGE_BUILD_ENGINES): no engine gauges, and no engines listed.
    expect(text).not.toContain("slugforge_engine");
    const engines = await call("GET", "/api/engines");
    expect(engines.status).toBe(200);
    expect(await engines.json()).toEqual([]);
  });
});
