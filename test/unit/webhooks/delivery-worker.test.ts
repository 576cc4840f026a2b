import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.js";
import type { MetadataStore } from "../../../src/store/types.js";
import type { DeliveryRecord } from "../../../src/store/webhook-types.js";
import { createDeliveryWorker, type DeliverySettings, type DeliveryWorker } from "../../../src/webhooks/index.js";
import { testStore } from "../../helpers/test-store.js";
import { until } from "../../helpers/until.js";
import { startReceiver } from "../../helpers/webhook-receiver.js";

const SECRET = "worker-test-secret-0123456789";
// The time limit is generous where it is not under test: two busy cores can hold a loopback answer up.
const FAST: DeliverySettings = { retryDelaysMs: [30, 60], timeoutMs: 3000, pollMs: 10 };

describe("the delivery worker", () => {
  const t = testStore();
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let worker: DeliveryWorker | undefined;
  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
    await receiver.close();
  });

  let n = 0;
  const appOf = new Map<string, string>();
  /** An app with a webhook to the receiver's path, and one delivery queued for it. */
  const queued = async (path: string, store: MetadataStore = t.store, url = receiver.url(path)): Promise<string> => {
    const app = `app-${++n}`;
    await store.createApp(app);
    await store.createWebhook({ id: `hook${String(n).padStart(8, "0")}`, app, url, secret: SECRET, events: ["release"] });
    const [delivery] = await store.queueDeliveries(app, "release", JSON.stringify({ event: "release", path }));
    appOf.set(delivery!, app);
    return delivery!;
  };
  const start = (settings: DeliverySettings = FAST, store: Pick<MetadataStore, "claimDueDeliveries" | "recordDeliveryAttempt"> = t.store): DeliveryWorker => {
    worker = createDeliveryWorker({ store, log: silentLogger(), ...settings });
    worker.start();
    return worker;
  };
  const delivery = async (id: string): Promise<DeliveryRecord> => (await t.store.listDeliveries(appOf.get(id)!)).find((d) => d.id === id)!;
  const settled = (id: string) => until(async () => (await delivery(id)).state !== "pending", 10_000);

  it("POSTs the body signed, with its delivery id and event; tries again after a 500 and records each attempt", async () => {
    receiver.on("/flaky", (r) => (r.nth === 1 ? 500 : 200), SECRET);
    const id = await queued("/flaky");
    start();
    await settled(id);
    const got = receiver.at("/flaky");
    expect(got).toHaveLength(2);
    for (const r of got) {
      expect(r.signed).toBe(true);
      expect(r.headers).toMatchObject({ "x-slugforge-delivery": id, "x-slugforge-event": "release", "content-type": "application/json" });
      expect(JSON.parse(r.body)).toEqual({ event: "release", path: "/flaky" });
    }
    expect(got[1]!.body).toBe(got[0]!.body);
    const d = await delivery(id);
    expect(d).toMatchObject({ state: "delivered", attempts: 2, lastStatusCode: 200, lastError: null, nextTryAt: null });
    expect(d.attemptLog.map((a) => [a.n, a.statusCode, a.error])).toEqual([
      [1, 500, "HTTP 500"],
      [2, 200, null],
    ]);
    // The second try waited at least the schedule's first delay.
    expect(Date.parse(d.attemptLog[1]!.at) - Date.parse(d.attemptLog[0]!.at)).toBeGreaterThanOrEqual(30);
  });

  it("gives a receiver that never answers the timeout on each try, then fails the delivery after the last", async () => {
    receiver.on("/hang", () => "hang");
    const id = await queued("/hang");
    start({ ...FAST, timeoutMs: 200 });
    await settled(id);
    const d = await delivery(id);
    expect(d).toMatchObject({ state: "failed", attempts: 3, lastStatusCode: null, nextTryAt: null });
    for (const a of d.attemptLog) {
      expect(a.error).toBe("no answer within 200 ms (timed out)");
      expect(a.durationMs).toBeGreaterThanOrEqual(190);
      expect(a.durationMs).toBeLessThan(2000);
    }
    expect(receiver.at("/hang")).toHaveLength(3);
  });

  it("survives receivers that reset, answer garbage or redirect (never followed), and records why each failed", async () => {
    receiver.on("/reset", () => "reset");
    receiver.on("/garbage", () => "garbage");
    receiver.on("/moved", () => ({ status: 302, headers: { Location: receiver.url("/elsewhere") } }));
    const ids = [await queued("/reset"), await queued("/garbage"), await queued("/moved")];
    const ok = await queued("/ok");
    start({ ...FAST, retryDelaysMs: [] });
    for (const id of [...ids, ok]) await settled(id);
    const [reset, garbage, moved] = await Promise.all(ids.map(delivery));
    expect(reset).toMatchObject({ state: "failed", lastStatusCode: null, lastError: expect.stringMatching(/UND_ERR_SOCKET|ECONNRESET|closed/) });
    expect(garbage).toMatchObject({ state: "failed", lastStatusCode: null, lastError: expect.stringMatching(/HPE_|HTTP/) });
    expect(moved).toMatchObject({ state: "failed", lastStatusCode: 302, lastError: `HTTP 302 to ${receiver.url("/elsewhere")}: redirects are not followed` });
    expect(receiver.at("/elsewhere")).toEqual([]);
    expect(await delivery(ok)).toMatchObject({ state: "delivered", attempts: 1 });
  });

  it("never fetches a URL that is not http(s), even one written into the database by hand", async () => {
    const id = await queued("/x", t.store, "file:///etc/passwd");
    start();
    await settled(id);
    expect(await delivery(id)).toMatchObject({ state: "failed", attempts: 1, lastError: expect.stringContaining("has the scheme file:") });
  });

  it("stops on close: an attempt in flight is aborted and not recorded, so its delivery stays pending for the next process", async () => {
    receiver.on("/slow", () => "hang");
    const id = await queued("/slow");
    const w = start({ ...FAST, timeoutMs: 30_000 });
    await until(() => receiver.at("/slow").length === 1);
    const began = Date.now();
    await w.close();
    expect(Date.now() - began).toBeLessThan(1000);
    expect(await delivery(id)).toMatchObject({ state: "pending", attempts: 0 });
  });

  it("takes a delivery left pending by an earlier process once it is due, and keeps going when a record cannot be written", async () => {
    receiver.on("/ok", () => 200);
    const id = await queued("/ok");
    // A store whose writes fail at first, as on a full disk.
    let full = true;
    const flaky: Pick<MetadataStore, "claimDueDeliveries" | "recordDeliveryAttempt"> = {
      claimDueDeliveries: (now, lease, limit) => t.store.claimDueDeliveries(now, lease, limit),
      recordDeliveryAttempt: async (...args) => {
        if (full) throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
        await t.store.recordDeliveryAttempt(...args);
      },
    };
    start({ ...FAST, timeoutMs: 500 }, flaky);
    await until(() => receiver.at("/ok").length === 1);
    expect(await delivery(id)).toMatchObject({ state: "pending", attempts: 0 });
    full = false;
    // Its lease (the timeout and 5 s) runs out, and it is sent again, this time recorded.
    await until(async () => (await delivery(id)).state === "delivered", 10_000);
    expect(receiver.at("/ok").map((r) => r.deliveryId)).toEqual([id, id]);
  });
});
