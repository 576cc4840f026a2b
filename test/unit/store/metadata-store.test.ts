import { describe, expect, it } from "vitest";
import { BACKENDS, testStore } from "../../helpers/test-store.js";

describe.each(BACKENDS)("metadata store on %s", (backend) => {
  const t = testStore(backend);

  const slug = (id: string) => ({ id, app: "web", sizeBytes: 10, commit: "c".repeat(40), buildpacks: ["python"], stack: "debian-13", processTypes: { web: "python app.py" }, createdAt: new Date().toISOString() });

  it("creates apps once and lists them", async () => {
    const { store } = t;
    await store.createApp("web");
    await expect(store.createApp("web")).rejects.toThrow(/already exists/);
    expect((await store.ensureApp("api")).name).toBe("api");
    expect((await store.listApps()).map((a) => a.name)).toEqual(["api", "web"]);
  });

  it("numbers releases per app: deploy, config change, rollback", async () => {
    const { store } = t;
    await store.createApp("web");
    expect((await store.updateConfigVars("web", { GREETING: "hi" })).release).toBeUndefined();
    await store.putSlug(slug("sha256:aa"));
    const v1 = await store.createDeployRelease("web", "sha256:aa", { web: "python app.py" }, "Deploy ccccccc");
    expect(v1).toMatchObject({ version: 1, slugId: "sha256:aa", config: { GREETING: "hi" } });
    const { release: v2 } = await store.updateConfigVars("web", { GREETING: "hello", OLD: null });
    // OLD was never set: removing it changes nothing, so the release does not name it.
    expect(v2).toMatchObject({ version: 2, slugId: "sha256:aa", description: "Set GREETING config vars", config: { GREETING: "hello" } });
    await store.putSlug(slug("sha256:bb"));
    await store.createDeployRelease("web", "sha256:bb", {}, "Deploy ddddddd");
    const v4 = await store.rollback("web", 1);
    expect(v4).toMatchObject({ version: 4, slugId: "sha256:aa", description: "Rollback to v1", config: { GREETING: "hi" } });
    expect(await store.getConfigVars("web")).toEqual({ GREETING: "hi" });
    expect((await store.listReleases("web")).map((r) => r.version)).toEqual([4, 3, 2, 1]);
    await expect(store.rollback("web", 9)).rejects.toThrow(/no release v9/);
  });

  it("a config change that changes nothing makes no release; a release names only what changed", async () => {
    const { store } = t;
    await store.createApp("web");
    await store.putSlug(slug("sha256:aa"));
    await store.updateConfigVars("web", { GREETING: "hi" });
    await store.createDeployRelease("web", "sha256:aa", {}, "Deploy ccccccc");
    const noops: Record<string, string | null>[] = [{}, { MISSING: null }, { GREETING: "hi" }, { GREETING: "hi", MISSING: null }];
    for (const changes of noops) {
      expect(await store.updateConfigVars("web", changes)).toEqual({ config: { GREETING: "hi" } });
    }
    expect((await store.listReleases("web")).map((r) => r.version)).toEqual([1]);
    const { release } = await store.updateConfigVars("web", { GREETING: "hi", NEW: "x", MISSING: null });
    expect(release).toMatchObject({ version: 2, description: "Set NEW config vars", config: { GREETING: "hi", NEW: "x" } });
    expect((await store.updateConfigVars("web", { NEW: null, GREETING: "hello" })).release).toMatchObject({
      version: 3,
      description: "Set GREETING config vars; Remove NEW config vars",
      config: { GREETING: "hello" },
    });
  });

  it("keeps each release's image, or why it is not made yet; lists those awaiting one", async () => {
    const { store } = t;
    await store.createApp("web");
    await store.putSlug(slug("sha256:aa"));
    const v1 = await store.createDeployRelease("web", "sha256:aa", {}, "Deploy ccccccc");
    expect(v1).toMatchObject({ image: null, imageError: null });
    expect(await store.setReleaseImage("web", 1, { error: "the registry does not answer" })).toMatchObject({ image: null, imageError: "the registry does not answer" });
    expect((await store.listReleasesAwaitingImage()).map((r) => r.version)).toEqual([1]);
    const image = { name: "127.0.0.1:5590/sf/web:v1", digest: `sha256:${"f".repeat(64)}` };
    expect(await store.setReleaseImage("web", 1, { image })).toMatchObject({ image, imageError: null });
    expect(await store.listReleasesAwaitingImage()).toEqual([]);
    // A later failure (pushed again by hand) keeps the image it has, and is not "awaiting" one.
    await store.setReleaseImage("web", 1, { error: "refused" });
    expect(await store.getRelease("web", 1)).toMatchObject({ image, imageError: "refused" });
    expect(await store.listReleasesAwaitingImage()).toEqual([]);
    expect(await store.setReleaseImage("web", 9, { image })).toBeUndefined();
  });

  it("keeps build output in order and marks interrupted builds failed after a restart", async () => {
    const { store } = t;
    await store.createApp("web");
    await store.createBuild({ id: "b1", app: "web", commit: "abc" });
    await store.updateBuild("b1", { status: "building" });
    await store.appendBuildOutput("b1", Buffer.from("one\n"));
    await store.appendBuildOutput("b1", Buffer.from("two\n"));
    expect((await store.readBuildOutput("b1")).map((c) => c.chunk.toString())).toEqual(["one\n", "two\n"]);
    expect((await store.readBuildOutput("b1", 1)).map((c) => c.seq)).toEqual([2]);
    const restarted = await t.reopen();
    expect(await restarted.failInterruptedBuilds({ self: { id: "n1", startedAt: new Date().toISOString() } })).toEqual([{ id: "b1", node: null }]);
    expect(await restarted.getBuild("b1")).toMatchObject({ status: "failed", errorCode: "INTERRUPTED" });
  });

  it("counts the builds other nodes run or queue (background work waits for them)", async () => {
    const { store } = t;
    await store.createApp("web");
    await store.createBuild({ id: "mine", app: "web", commit: "a", node: "n1" });
    await store.createBuild({ id: "queued", app: "web", commit: "b", node: "n2" });
    await store.createBuild({ id: "running", app: "web", commit: "c", node: "n2" });
    await store.updateBuild("running", { status: "building" });
    await store.createBuild({ id: "done", app: "web", commit: "d", node: "n3" });
    await store.updateBuild("done", { status: "succeeded" });
    expect(await store.countActiveBuildsElsewhere("n1")).toBe(2);
    expect(await store.countActiveBuildsElsewhere("n2")).toBe(1);
    await store.updateBuild("queued", { status: "cancelled" });
    await store.updateBuild("running", { status: "failed" });
    expect(await store.countActiveBuildsElsewhere("n1")).toBe(0);
  });
});
