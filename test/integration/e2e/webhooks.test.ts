import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../src/cli/main.js";
import { openSqliteStore } from "../../../src/store/sqlite-store.js";
import type { DeliveryRecord, WebhookRecord } from "../../../src/store/webhook-types.js";
import type { DeliverySettings } from "../../../src/webhooks/index.js";
import { GitClient } from "../../helpers/git-client.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { until } from "../../helpers/until.js";
import { startReceiver, type Received } from "../../helpers/webhook-receiver.js";
import { buildpackRepo, E2E_TOKEN, startServer, type RunningServer } from "./server.js";

/*
 * Release and build webhooks end to end: the server as `slugforge serve` makes it, pushes built for
 * real (the cacher fixture buildpack), config changes and rollbacks, and a receiver on 127.0.0.1
 * that checks every signature. The retry delays and the 10 s timeout are shortened to milliseconds.
 */
// A second rather than 10 s: short for the receiver that never answers, long enough that a busy
// machine never times out one that does.
const FAST: DeliverySettings = { retryDelaysMs: [100, 200, 300], timeoutMs: 1000, pollMs: 25 };
const SECRET = "e2e-webhook-secret-0123456789";
const dirs = tmpDirs();
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let server: RunningServer;
let dataDir: string;
let git: GitClient;
let work: string;
let head: string;

interface ReleasePayload {
  event: "release";
  app: string;
  release: { version: number; kind: string; slugId: string; commit: string; buildId: string | null; image: unknown };
}
interface BuildPayload {
  event: "build";
  app: string;
  build: { id: string; status: string; errorCode: string | null; commit: string; slugId: string | null; releaseVersion: number | null };
}

const addWebhook = async (body: Record<string, unknown>) => {
  const made = await server.api<WebhookRecord & { secret: string }>("POST", "/api/apps/hooked/webhooks", body);
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  return made.body;
};
const deliveries = async (webhookId: string): Promise<DeliveryRecord[]> => {
  const r = await server.api<DeliveryRecord[]>("GET", `/api/apps/hooked/webhook-deliveries?webhook=${webhookId}`);
  expect(r.status).toBe(200);
  return r.body;
};
const settled = (webhookId: string, count: number) =>
  until(async () => {
    const list = await deliveries(webhookId);
    return list.length >= count && list.every((d) => d.state !== "pending");
  }, 30_000);
const bodies = (got: Received[]) => got.map((r) => JSON.parse(r.body) as ReleasePayload | BuildPayload);

beforeAll(async () => {
  receiver = await startReceiver();
  git = new GitClient(await dirs.make("sf-hooks-home-"));
  const bp = await buildpackRepo(git, "cacher", await dirs.make("sf-hooks-bp-"));
  dataDir = await dirs.make("sf-hooks-data-");
  server = await startServer(dataDir, {}, { webhooks: FAST });
  expect((await server.api("POST", "/api/apps", { name: "hooked" })).status).toBe(201);
  work = await dirs.make("sf-hooks-app-");
  await git.initRepo(work);
  await git.commit(work, ".buildpacks", `${bp}\n`, "buildpack");
  head = await git.commit(work, "CACHE", "", "cacher");
}, 120_000);
afterAll(async () => {
  await server?.close();
  await receiver?.close();
  await dirs.cleanup();
});

describe("release and build webhooks", () => {
  let deploys: WebhookRecord;

  it("sends a push's finished build and its release, signed; a receiver's 500s are retried and every attempt recorded", async () => {
    receiver.on("/deploys", (r) => (r.nth <= 2 ? 500 : 200), SECRET);
    deploys = await addWebhook({ url: receiver.url("/deploys"), secret: SECRET });
    expect(deploys).toMatchObject({ app: "hooked", url: receiver.url("/deploys"), events: ["release", "build"], secret: SECRET });
    expect((await server.api<WebhookRecord[]>("GET", "/api/apps/hooked/webhooks")).body).toEqual([{ id: deploys.id, app: "hooked", url: receiver.url("/deploys"), events: ["release", "build"], createdAt: expect.any(String) }]);

    const push = await git.run(["push", server.url("hooked"), "main"], work);
    expect(push.code, push.stderr).toBe(0);
    await settled(deploys.id, 2);

    const [build] = (await server.api<{ id: string }[]>("GET", "/api/apps/hooked/builds")).body;
    const [release] = (await server.api<{ version: number; slugId: string }[]>("GET", "/api/apps/hooked/releases")).body;
    const got = receiver.at("/deploys");
    expect(got).toHaveLength(6);
    expect(got.every((r) => r.signed)).toBe(true);
    const list = await deliveries(deploys.id);
    for (const d of list) {
      expect(d).toMatchObject({ state: "delivered", attempts: 3, lastStatusCode: 200, lastError: null, nextTryAt: null });
      expect(d.attemptLog.map((a) => [a.n, a.statusCode, a.error])).toEqual([
        [1, 500, "HTTP 500"],
        [2, 500, "HTTP 500"],
        [3, 200, null],
      ]);
      // Every try of a delivery carries its id and the same bytes.
      const tries = got.filter((r) => r.deliveryId === d.id);
      expect(tries.map((r) => r.nth)).toEqual([1, 2, 3]);
      expect(new Set(tries.map((r) => r.body)).size).toBe(1);
      expect(tries[0]!.headers["x-slugforge-event"]).toBe(d.event);
      expect(JSON.parse(tries[0]!.body)).toEqual(d.payload);
    }
    const sent = bodies(got.filter((r) => r.nth === 1));
    expect(sent.find((p) => p.event === "build")).toEqual({
      event: "build",
      app: "hooked",
      createdAt: expect.any(String),
      build: { id: build!.id, status: "succeeded", errorCode: null, commit: head, slugId: release!.slugId, releaseVersion: 1, dryRun: false, actor: "admin" },
    });
    expect(sent.find((p) => p.event === "release")).toEqual({
      event: "release",
      app: "hooked",
      createdAt: expect.any(String),
      release: { version: 1, kind: "deploy", description: `Deploy ${head.slice(0, 7)}`, slugId: release!.slugId, commit: head, buildId: build!.id, image: null, processTypes: {} },
    });
  }, 120_000);

  it("sends config changes and rollbacks as releases, a failed build as a build, each only to the webhooks that want it", async () => {
    expect((await server.api("DELETE", `/api/apps/hooked/webhooks/${deploys.id}`)).status).toBe(200);
    expect((await server.api("GET", `/api/apps/hooked/webhook-deliveries?webhook=${deploys.id}`)).status).toBe(404);
    const releases = await addWebhook({ url: receiver.url("/releases"), events: ["release"] });
    expect(releases.secret).toMatch(/^sfwh_/);
    receiver.on("/releases", () => 204, releases.secret);
    const builds = await addWebhook({ url: receiver.url("/builds"), events: ["build"], secret: SECRET });
    receiver.on("/builds", () => 200, SECRET);

    expect((await server.api("PATCH", "/api/apps/hooked/config-vars", { GREETING: "hello" })).status).toBe(200);
    expect((await server.api("POST", "/api/apps/hooked/releases", { release: "v1" })).status).toBe(201);
    await git.commit(work, "FAIL", "", "fail on purpose");
    const failed = await git.run(["push", server.url("hooked"), "main"], work);
    expect(failed.code).not.toBe(0);
    await git.ok(["reset", "-q", "--hard", "HEAD~1"], work);
    await settled(releases.id, 2);
    await settled(builds.id, 1);

    const [v1] = (await server.api<{ slugId: string }[]>("GET", "/api/apps/hooked/releases")).body.slice(-1);
    expect(receiver.at("/releases").every((r) => r.signed)).toBe(true);
    expect(bodies(receiver.at("/releases")).map((p) => (p as ReleasePayload).release)).toEqual([
      { version: 2, kind: "config", description: "Set GREETING config vars", slugId: v1!.slugId, commit: head, buildId: null, image: null, processTypes: {} },
      { version: 3, kind: "rollback", description: "Rollback to v1", slugId: v1!.slugId, commit: head, buildId: null, image: null, processTypes: {} },
    ]);
    expect(JSON.stringify(receiver.received)).not.toContain("hello");
    const [failedBuild] = (await server.api<{ id: string; commit: string }[]>("GET", "/api/apps/hooked/builds")).body;
    expect(bodies(receiver.at("/builds"))).toEqual([
      { event: "build", app: "hooked", createdAt: expect.any(String), build: { id: failedBuild!.id, status: "failed", errorCode: "COMPILE_FAILED", commit: failedBuild!.commit, slugId: null, releaseVersion: null, dryRun: false, actor: "admin" } },
    ]);
    expect(receiver.at("/builds")[0]!.signed).toBe(true);
    for (const id of [releases.id, builds.id]) await server.api("DELETE", `/api/apps/hooked/webhooks/${id}`);
  }, 120_000);

  it("gives a receiver that never answers the timeout on every try, then fails the delivery; the server keeps serving", async () => {
    receiver.on("/hang", () => "hang");
    const hang = await addWebhook({ url: receiver.url("/hang"), events: ["release"] });
    try {
      const began = Date.now();
      expect((await server.api("PATCH", "/api/apps/hooked/config-vars", { GREETING: "again" })).status).toBe(200);
      expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
      await settled(hang.id, 1);
      const [d] = await deliveries(hang.id);
      expect(d).toMatchObject({ state: "failed", attempts: 4, lastStatusCode: null, nextTryAt: null });
      for (const a of d!.attemptLog) {
        expect(a.error).toBe("no answer within 1 s (timed out)");
        expect(a.durationMs).toBeGreaterThanOrEqual(990);
        expect(a.durationMs).toBeLessThan(5000);
      }
      // Four timeouts and the waits between them: 4 × 1 s + 0.1 + 0.2 + 0.3 s.
      expect(Date.now() - began).toBeGreaterThanOrEqual(4600);
      // Four tries recorded. Delivery is at least once (docs/webhooks.md): on a machine loaded
      // enough for an attempt to outlive its lease, the receiver may see one of them twice, with
      // the same delivery id.
      const hits = receiver.at("/hang");
      expect(hits.length).toBeGreaterThanOrEqual(4);
      expect(hits.length).toBeLessThanOrEqual(5);
      expect(new Set(hits.map((h) => h.deliveryId))).toEqual(new Set([d!.id]));
    } finally {
      await server.api("DELETE", `/api/apps/hooked/webhooks/${hang.id}`);
    }
  }, 60_000);

  it("refuses a file:// or ftp:// URL with a clear error, and a bad secret or event", async () => {
    for (const [url, scheme] of [["file:///etc/passwd", "file"], ["ftp://example.com/hook", "ftp"]]) {
      const r = await server.api<{ id: string; message: string }>("POST", "/api/apps/hooked/webhooks", { url });
      expect(r.status).toBe(400);
      expect(r.body.id).toBe("WEBHOOK_URL_INVALID");
      expect(r.body.message).toContain(`"${url}" has the scheme ${scheme}: webhooks are POSTed to http:// and https:// URLs only`);
    }
    const short = await server.api<{ id: string; message: string }>("POST", "/api/apps/hooked/webhooks", { url: receiver.url("/x"), secret: "short" });
    expect([short.status, short.body.id]).toEqual([400, "BAD_REQUEST"]);
    expect(short.body.message).toContain("16 to 256 characters");
    const event = await server.api<{ id: string; message: string }>("POST", "/api/apps/hooked/webhooks", { url: receiver.url("/x"), events: ["deploy"] });
    expect(event.body.message).toContain("one or more of release, build");
    expect((await server.api<WebhookRecord[]>("GET", "/api/apps/hooked/webhooks")).body).toEqual([]);
  });

  it("the CLI adds (secret shown once), lists, shows deliveries and removes webhooks, and refuses an ftp:// URL with the server's words", async () => {
    const cli = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
      const out = vi.spyOn(console, "log").mockImplementation(() => undefined);
      const err = vi.spyOn(console, "error").mockImplementation(() => undefined);
      try {
        const code = await main(argv, { SLUGFORGE_URL: server.base, SLUGFORGE_TOKEN: E2E_TOKEN, SLUGFORGE_DATA: dataDir });
        return { code, out: out.mock.calls.join("\n"), err: err.mock.calls.join("\n") };
      } finally {
        out.mockRestore();
        err.mockRestore();
      }
    };
    const help = await cli("webhooks:add", "--help");
    // The usage wraps at the help's width: compare it with its words on one line.
    expect(help.out.replace(/\s+/g, " ")).toContain("Usage: slugforge webhooks:add APP URL [--secret S] [--events release,build] [--json]");
    const refused = await cli("webhooks:add", "hooked", "ftp://example.com/hook");
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('error WEBHOOK_URL_INVALID: "ftp://example.com/hook" has the scheme ftp: webhooks are POSTed to http:// and https:// URLs only');

    receiver.on("/cli", () => 200);
    const added = await cli("webhooks:add", "hooked", receiver.url("/cli"), "--events", "build");
    expect(added.code, added.err).toBe(0);
    expect(added.out).toMatch(/^webhook [0-9a-f]{12} of hooked: build events to http:\/\/127\.0\.0\.1:\d+\/cli\n/);
    expect(added.out).toMatch(/shown only this once:\n\n {4}sfwh_[A-Za-z0-9_-]{43}\n/);
    const id = /^webhook ([0-9a-f]{12})/.exec(added.out)![1]!;
    const given = await cli("webhooks:add", "hooked", receiver.url("/cli2"), "--secret", SECRET, "--json");
    const made = JSON.parse(given.out) as { id: string; events: string[]; secret: string };
    expect(made).toMatchObject({ events: ["release", "build"], secret: SECRET });

    const listed = await cli("webhooks", "hooked");
    expect(listed.out.split("\n")[0]).toMatch(/^ID\s+URL\s+Events\s+Created at$/);
    expect(listed.out).toContain(`${id}  ${receiver.url("/cli")}`);
    expect(listed.out).not.toContain(SECRET);
    expect((await cli("webhooks:deliveries", "hooked", "--webhook", id)).out).toBe("hooked has no webhook deliveries");
    for (const hook of [id, made.id]) expect((await cli("webhooks:remove", "hooked", hook)).code).toBe(0);
    expect((await cli("webhooks", "hooked", "--json")).out).toBe("[]");
    expect((await cli("webhooks:remove", "hooked", id)).err).toContain("error NOT_FOUND: hooked has no webhook with id");
  });

  it("sends a delivery left pending by a stopped server after the restart, with the same id", async () => {
    let ready = false;
    receiver.on("/later", () => (ready ? 200 : 503), SECRET);
    const later = await addWebhook({ url: receiver.url("/later"), events: ["release"], secret: SECRET });
    await server.close();
    // This process waits 3 s after a failed try: long enough to stop it in between.
    server = await startServer(dataDir, {}, { webhooks: { ...FAST, retryDelaysMs: [3000, 3000] } });
    expect((await server.api("PATCH", "/api/apps/hooked/config-vars", { GREETING: "restart" })).status).toBe(200);
    await until(async () => (await deliveries(later.id))[0]?.attempts === 1);
    await server.close();
    expect(receiver.at("/later")).toHaveLength(1);

    ready = true;
    server = await startServer(dataDir, {}, { webhooks: FAST });
    await settled(later.id, 1);
    const [d] = await deliveries(later.id);
    expect(d).toMatchObject({ state: "delivered", attempts: 2 });
    expect(d!.attemptLog.map((a) => a.statusCode)).toEqual([503, 200]);
    expect(receiver.at("/later").map((r) => [r.deliveryId, r.signed])).toEqual([
      [d!.id, true],
      [d!.id, true],
    ]);
  }, 60_000);

  it("deleting the app deletes its webhooks and their pending deliveries: nothing more is sent", async () => {
    receiver.on("/pending", () => 503);
    const pending = await addWebhook({ url: receiver.url("/pending"), events: ["release"] });
    await server.close();
    server = await startServer(dataDir, {}, { webhooks: { ...FAST, retryDelaysMs: [500, 500] } });
    expect((await server.api("PATCH", "/api/apps/hooked/config-vars", { GREETING: "bye" })).status).toBe(200);
    await until(async () => (await deliveries(pending.id))[0]?.attempts === 1);
    expect((await server.api("DELETE", "/api/apps/hooked")).status).toBe(200);
    expect((await server.api<{ id: string }>("GET", "/api/apps/hooked/webhooks")).body.id).toBe("APP_NOT_FOUND");
    const store = openSqliteStore(path.join(dataDir, "metadata.db"));
    try {
      expect(await store.listDeliveries("hooked")).toEqual([]);
      expect(await store.claimDueDeliveries(new Date(Date.now() + 3_600_000).toISOString(), new Date().toISOString(), 10)).toEqual([]);
    } finally {
      await store.close();
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(receiver.at("/pending")).toHaveLength(1);
  }, 60_000);
});
