import { beforeEach, describe, expect, it } from "vitest";
import { createStoreRecorder } from "../../../src/builds/store-recorder.js";
import type { BuildRequest } from "../../../src/builds/types.js";
import { silentLogger } from "../../../src/log.js";
import type { MetadataStore } from "../../../src/store/types.js";
import { createWebhookEvents } from "../../../src/webhooks/index.js";
import { BACKENDS, testStore } from "../../helpers/test-store.js";

describe.each(BACKENDS)("store recorder on %s", (backend) => {
  const t = testStore(backend);
  let store: MetadataStore;
  beforeEach(() => {
    store = t.store;
  });

  const request = (actor?: string): BuildRequest => ({
    app: "web",
    commit: "1234567890abcdef1234567890abcdef12345678",
    ref: "refs/heads/main",
    source: { gitDir: "/nowhere" },
    pushOptions: [],
    actor,
  });

  it("puts the push and its release in the app's activity under who pushed", async () => {
    const recorder = createStoreRecorder(store, { stack: "debian-13", log: silentLogger() });
    await recorder.queued("b1", request("aaaaaaaaaaaa"));
    await recorder.started("b1");
    const recorded = await recorder.finished(request("aaaaaaaaaaaa"), { buildId: "b1", status: "succeeded", slug: { id: "sha256:aa", sha256: "aa", sizeBytes: 3 } });
    expect(recorded).toEqual({ lines: ["Released v1", "Slug sha256:aa"], release: { app: "web", version: 1 } });
    expect(await store.getBuild("b1")).toMatchObject({ status: "succeeded", actor: "aaaaaaaaaaaa" });
    expect((await store.listActivity("web")).map(({ actor, action, detail }) => ({ actor, action, detail }))).toEqual([
      { actor: "aaaaaaaaaaaa", action: "release", detail: "v1 from build b1" },
      { actor: "aaaaaaaaaaaa", action: "push", detail: "1234567 to main: build b1" },
    ]);
  });

  it("keeps a build's output in the order written though nothing waits for it, and its result after it", async () => {
    const recorder = createStoreRecorder(store, { stack: "debian-13", log: silentLogger() });
    const writes = [recorder.queued("b3", request()), recorder.started("b3")];
    // As the build service writes output: one call per chunk, none awaited.
    for (let i = 0; i < 50; i++) writes.push(recorder.output("b3", Buffer.from(`line ${i}\n`)));
    await recorder.finished(request(), { buildId: "b3", status: "failed", error: { code: "COMPILE_FAILED", message: "no" } });
    expect(await store.getBuild("b3")).toMatchObject({ status: "failed" });
    const stored = (await store.readBuildOutput("b3")).map((c) => c.chunk.toString()).join("");
    expect(stored).toBe(Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join(""));
    await Promise.all(writes);
  });

  it("a failed build is a push without a release; a request without an actor says so", async () => {
    const recorder = createStoreRecorder(store, { stack: "debian-13", log: silentLogger() });
    await recorder.queued("b2", request());
    await recorder.finished(request(), { buildId: "b2", status: "failed", error: { code: "COMPILE_FAILED", message: "no" } });
    expect(await store.getBuild("b2")).toMatchObject({ status: "failed", actor: null });
    expect((await store.listActivity("web")).map((a) => [a.actor, a.action])).toEqual([["unknown", "push"]]);
  });
});

describe.each(BACKENDS)("store recorder and webhooks on %s", (backend) => {
  const t = testStore(backend);
  const request: BuildRequest = { app: "web", commit: "1234567890abcdef1234567890abcdef12345678", ref: "refs/heads/main", source: { gitDir: "/nowhere" }, pushOptions: [], actor: "admin" };
  const recorder = async () => {
    const events = createWebhookEvents({ log: silentLogger() });
    await t.store.ensureApp("web");
    await t.store.createWebhook({ id: "hook00000001", app: "web", url: "https://example.com/h", secret: "0123456789abcdef", events: ["release", "build"] });
    return createStoreRecorder(t.store, { stack: "debian-13", log: silentLogger(), events });
  };
  const payloads = async () => (await t.store.listDeliveries("web")).reverse().map((d) => d.payload);

  it("queues the finished build and its release with them, in one transaction", async () => {
    const r = await recorder();
    await r.queued("b1", request);
    await r.finished(request, { buildId: "b1", status: "succeeded", slug: { id: "sha256:aa", sha256: "aa", sizeBytes: 3 }, processTypes: { web: "serve" } });
    expect(await payloads()).toEqual([
      {
        event: "build",
        app: "web",
        createdAt: (await t.store.getBuild("b1"))!.finishedAt,
        build: { id: "b1", status: "succeeded", errorCode: null, commit: request.commit, slugId: "sha256:aa", releaseVersion: 1, dryRun: false, actor: "admin" },
      },
      {
        event: "release",
        app: "web",
        createdAt: (await t.store.getRelease("web", 1))!.createdAt,
        release: { version: 1, kind: "deploy", description: "Deploy 1234567", slugId: "sha256:aa", commit: request.commit, buildId: "b1", image: null, processTypes: { web: "serve" } },
      },
    ]);
  });

  it("queues a failed build or a dry run as a build event only, with the error's code and not its message", async () => {
    const r = await recorder();
    await r.finished(request, { buildId: "b2", status: "failed", error: { code: "COMPILE_FAILED", message: "token=hunter2 in the output" } });
    await r.finished(request, { buildId: "b3", status: "succeeded", dryRun: true, slug: { id: "sha256:bb", sha256: "bb", sizeBytes: 3 } });
    expect(await payloads()).toMatchObject([
      { event: "build", build: { id: "b2", status: "failed", errorCode: "COMPILE_FAILED", releaseVersion: null, dryRun: false } },
      { event: "build", build: { id: "b3", status: "succeeded", slugId: "sha256:bb", releaseVersion: null, dryRun: true } },
    ]);
    expect(JSON.stringify(await payloads())).not.toContain("hunter2");
  });

  it("queues nothing when the result cannot be kept: the retry that keeps it queues the events", async () => {
    const r = await recorder();
    // A store whose slug records cannot be written (as on a full disk), in the recorder's transaction.
    const full = async (): Promise<never> => {
      throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    };
    const failing: MetadataStore = { ...t.store, transaction: (fn) => t.store.transaction((tx) => fn({ ...tx, putSlug: full })) };
    const broken = createStoreRecorder(failing, { stack: "debian-13", log: silentLogger(), events: createWebhookEvents({ log: silentLogger() }) });
    const result = { buildId: "b4", status: "succeeded" as const, slug: { id: "sha256:cc", sha256: "cc", sizeBytes: 3 } };
    await expect(broken.finished(request, result)).rejects.toThrow("disk is full");
    expect(await payloads()).toEqual([]);
    await r.finished(request, result);
    expect((await payloads()).map((p) => (p as { event: string }).event)).toEqual(["build", "release"]);
  });
});
