import { beforeEach, describe, expect, it } from "vitest";
import { createStoreRecorder } from "../../../src/builds/store-recorder.js";
import type { BuildRequest } from "../../../src/builds/types.js";
import { silentLogger } from "../../../src/log.js";
import type { MetadataStore } from "../../../src/store/types.js";
import { testStore } from "../../helpers/test-store.js";

describe("store recorder", () => {
  const t = testStore();
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

  it("puts the push and its release in the app's activity under who pushed", () => {
    const recorder = createStoreRecorder(store, { stack: "debian-13", log: silentLogger() });
    recorder.queued("b1", request("aaaaaaaaaaaa"));
    recorder.started("b1");
    const recorded = recorder.finished(request("aaaaaaaaaaaa"), { buildId: "b1", status: "succeeded", slug: { id: "sha256:aa", sha256: "aa", sizeBytes: 3 } });
    expect(recorded).toEqual({ lines: ["Released v1", "Slug sha256:aa"], release: { app: "web", version: 1 } });
    expect(store.getBuild("b1")).toMatchObject({ status: "succeeded", actor: "aaaaaaaaaaaa" });
    expect(store.listActivity("web").map(({ actor, action, detail }) => ({ actor, action, detail }))).toEqual([
      { actor: "aaaaaaaaaaaa", action: "release", detail: "v1 from build b1" },
      { actor: "aaaaaaaaaaaa", action: "push", detail: "1234567 to main: build b1" },
    ]);
  });

  it("a failed build is a push without a release; a request without an actor says so", () => {
    const recorder = createStoreRecorder(store, { stack: "debian-13", log: silentLogger() });
    recorder.queued("b2", request());
    recorder.finished(request(), { buildId: "b2", status: "failed", error: { code: "COMPILE_FAILED", message: "no" } });
    expect(store.getBuild("b2")).toMatchObject({ status: "failed", actor: null });
    expect(store.listActivity("web").map((a) => [a.actor, a.action])).toEqual([["unknown", "push"]]);
  });
});
