import { describe, expect, it } from "vitest";
import type { MetadataStore } from "../../../src/store/types.js";
import { BACKENDS, testStore } from "../../helpers/test-store.js";

describe.each(BACKENDS)("webhooks in the store on %s", (backend) => {
  const t = testStore(backend);
  const iso = (ms: number): string => new Date(ms).toISOString();
  const hook = (store: MetadataStore, id: string, events: ("release" | "build")[] = ["release", "build"], app = "web") =>
    store.createWebhook({ id, app, url: `https://example.com/${id}`, secret: `secret-of-${id}-0123456789`, events });

  it("keeps webhooks per app, without their secret in what it shows", async () => {
    const { store } = t;
    await store.createApp("web");
    const made = await hook(store, "aaaaaaaaaaaa", ["release"]);
    expect(made).toEqual({ id: "aaaaaaaaaaaa", app: "web", url: "https://example.com/aaaaaaaaaaaa", events: ["release"], createdAt: expect.any(String) });
    expect(JSON.stringify(await store.listWebhooks("web"))).not.toContain("secret-of");
    expect(await store.listWebhooks("other")).toEqual([]);
  });

  it("queues an event for the webhooks that subscribe to it, and lets one taker have each due delivery at a time", async () => {
    const { store } = t;
    await store.createApp("web");
    await hook(store, "release00000", ["release"]);
    await hook(store, "both00000000");
    await hook(store, "build0000000", ["build"]);
    const ids = await store.queueDeliveries("web", "release", '{"event":"release"}');
    expect(ids).toHaveLength(2);
    const now = Date.now() + 1000;
    const due = await store.claimDueDeliveries(iso(now), iso(now + 15_000), 10);
    expect(due.map((d) => d.webhookId).sort()).toEqual(["both00000000", "release00000"]);
    expect(due[0]).toMatchObject({ app: "web", event: "release", body: '{"event":"release"}', attempts: 0, secret: expect.stringMatching(/^secret-of-/) });
    // Leased: a second look (or another process) does not take them until the lease ends.
    expect(await store.claimDueDeliveries(iso(now + 1000), iso(now + 16_000), 10)).toEqual([]);
    expect(await store.claimDueDeliveries(iso(now + 15_000), iso(now + 30_000), 1)).toHaveLength(1);
  });

  it("records every attempt, retries when told, and leaves delivered and failed deliveries alone", async () => {
    const { store } = t;
    await store.createApp("web");
    await hook(store, "hook00000000");
    const [id] = await store.queueDeliveries("web", "build", '{"n":1}');
    const t0 = Date.now() + 1000;
    await store.claimDueDeliveries(iso(t0), iso(t0 + 100), 1);
    await store.recordDeliveryAttempt(id!, { at: iso(t0), statusCode: 500, durationMs: 12, error: "HTTP 500" }, { state: "pending", nextTryAt: iso(t0 + 10_000) });
    expect(await store.claimDueDeliveries(iso(t0 + 5_000), iso(t0 + 6_000), 1)).toEqual([]);
    const [again] = await store.claimDueDeliveries(iso(t0 + 10_000), iso(t0 + 10_100), 1);
    expect(again).toMatchObject({ id, attempts: 1 });
    await store.recordDeliveryAttempt(id!, { at: iso(t0 + 10_000), statusCode: 200, durationMs: 8, error: null }, { state: "delivered" });
    // A late record of a lease that ran out changes nothing once delivered.
    await store.recordDeliveryAttempt(id!, { at: iso(t0 + 20_000), statusCode: null, durationMs: 1, error: "late" }, { state: "failed" });
    const [delivery] = await store.listDeliveries("web");
    expect(delivery).toEqual({
      id,
      webhookId: "hook00000000",
      app: "web",
      event: "build",
      payload: { n: 1 },
      state: "delivered",
      attempts: 2,
      lastStatusCode: 200,
      lastDurationMs: 8,
      lastError: null,
      nextTryAt: null,
      createdAt: expect.any(String),
      attemptLog: [
        { n: 1, at: iso(t0), statusCode: 500, durationMs: 12, error: "HTTP 500" },
        { n: 2, at: iso(t0 + 10_000), statusCode: 200, durationMs: 8, error: null },
      ],
    });
  });

  it("deleting a webhook deletes its deliveries; deleting the app deletes its webhooks and theirs; nothing pending is left to send", async () => {
    const { store } = t;
    await store.createApp("web");
    await store.createApp("api");
    await hook(store, "web000000001");
    await hook(store, "web000000002");
    await hook(store, "api000000001", ["release"], "api");
    await store.queueDeliveries("web", "release", "{}");
    await store.queueDeliveries("api", "release", "{}");
    expect(await store.deleteWebhook("api", "web000000001")).toBeUndefined();
    expect(await store.deleteWebhook("web", "web000000001")).toMatchObject({ id: "web000000001" });
    expect((await store.listDeliveries("web")).map((d) => d.webhookId)).toEqual(["web000000002"]);
    await store.deleteApp("web");
    expect(await store.listWebhooks("web")).toEqual([]);
    expect(await store.listDeliveries("web")).toEqual([]);
    const later = Date.now() + 60_000;
    expect((await store.claimDueDeliveries(iso(later), iso(later + 1), 10)).map((d) => d.app)).toEqual(["api"]);
    // Recording an attempt of a delivery that went with its webhook does nothing (and does not throw).
    await store.recordDeliveryAttempt("gone", { at: iso(later), statusCode: 200, durationMs: 1, error: null }, { state: "delivered" });
  });

  it("keeps pending deliveries across a restart, and lists newest first, per webhook, with a limit", async () => {
    await t.store.createApp("web");
    await hook(t.store, "hook00000001");
    await hook(t.store, "hook00000002", ["build"]);
    await t.store.queueDeliveries("web", "release", '{"v":1}');
    await t.store.queueDeliveries("web", "build", '{"v":2}');
    const store = await t.reopen();
    expect((await store.listDeliveries("web")).map((d) => d.payload)).toEqual([{ v: 2 }, { v: 2 }, { v: 1 }]);
    expect(await store.listDeliveries("web", { webhookId: "hook00000002" })).toHaveLength(1);
    expect(await store.listDeliveries("web", { limit: 1 })).toHaveLength(1);
    const later = Date.now() + 1000;
    expect(await store.claimDueDeliveries(iso(later), iso(later + 1), 10)).toHaveLength(3);
  });

  it("migrates a database made before webhooks (migration 4 after 3)", async () => {
    await t.store.createApp("web");
    await t.store.close();
    await t.exec("DROP TABLE webhook_attempts; DROP TABLE webhook_deliveries; DROP TABLE webhooks; DELETE FROM schema_migrations WHERE version = 4;");
    const store = await t.reopen();
    expect(await store.getApp("web")).toBeDefined();
    expect((await hook(store, "after0000000")).events).toEqual(["release", "build"]);
  });
});
