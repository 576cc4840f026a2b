import path from "node:path";
import { describe, expect, it } from "vitest";
import { gitTestBed } from "../../helpers/git-test-bed.js";

const bed = gitTestBed();
const { builder, client, dirs } = bed;

async function countObjects(app: string): Promise<string> {
  return client.ok(["--git-dir", bed.gitDir(app), "count-objects", "-v"], bed.server.dataDir);
}

describe("push to main", () => {
  it("first push creates the app, builds, and the clone comes back on main", async () => {
    builder.plan = { steps: ["-----> Fake app detected", "-----> Done ✓ 構築"] };
    const work = await dirs.make();
    const head = await client.initRepo(work);
    const push = await client.run(["push", bed.server.url("first-app"), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    expect(push.stderr).toContain("remote: -----> Fake app detected");
    expect(push.stderr).toContain("✓ 構築");
    expect(bed.server.created).toContain("first-app");
    expect(await bed.serverRef("first-app")).toBe(head);
    const build = builder.builds.at(-1)!;
    expect(build.request).toMatchObject({ app: "first-app", commit: head, ref: "refs/heads/main" });
    expect(build.commitVisible).toBe(true);
    expect(build.request.source.quarantinePath).toMatch(/tmp_objdir-incoming-/);

    const clone = path.join(await dirs.make(), "clone");
    const cloned = await client.run(["clone", bed.server.url("first-app"), clone], bed.server.dataDir);
    expect(cloned.code, cloned.stderr).toBe(0);
    expect(cloned.stderr).not.toContain("warning");
    expect(await client.ok(["rev-parse", "HEAD"], clone)).toBe(head);
    expect(await client.ok(["symbolic-ref", "HEAD"], clone)).toBe("refs/heads/main");
  });

  it("fast-forward push builds the new commit; a no-op push builds nothing", async () => {
    builder.plan = { steps: ["ok"] };
    const work = await dirs.make();
    await client.initRepo(work);
    expect((await client.run(["push", bed.server.url("ff-app"), "HEAD:main"], work)).code).toBe(0);
    const second = await client.commit(work, "a.txt", "a\n", "second");
    const before = builder.builds.length;
    const push = await client.run(["push", bed.server.url("ff-app"), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    expect(builder.builds.length).toBe(before + 1);
    expect(builder.builds.at(-1)!.request.commit).toBe(second);
    expect(await bed.serverRef("ff-app")).toBe(second);

    const noop = await client.run(["push", bed.server.url("ff-app"), "HEAD:main"], work);
    expect(noop.code).toBe(0);
    expect(noop.stderr).toContain("Everything up-to-date");
    expect(builder.builds.length).toBe(before + 1);
  });

  it("a failed build rejects the push: ref unchanged, no new objects, the code shown", async () => {
    const work = await dirs.make();
    const first = await client.initRepo(work);
    builder.plan = { steps: ["ok"] };
    expect((await client.run(["push", bed.server.url("fail-app"), "HEAD:main"], work)).code).toBe(0);
    const objectsBefore = await countObjects("fail-app");
    await client.commit(work, "b.bin", "x".repeat(5000), "will fail");
    builder.plan = { steps: ["-----> Compiling"], fail: { code: "COMPILE_FAILED", message: "compile exploded" } };
    const push = await client.run(["push", bed.server.url("fail-app"), "HEAD:main"], work);
    expect(push.code).toBe(1);
    expect(push.stderr).toContain("remote: -----> Compiling");
    expect(push.stderr).toMatch(/remote: !\s+COMPILE_FAILED: compile exploded \(build fake-\d+\)/);
    expect(push.stderr).toContain("! [remote rejected] HEAD -> main (pre-receive hook declined)");
    expect(await bed.serverRef("fail-app")).toBe(first);
    expect(await countObjects("fail-app")).toBe(objectsBefore);
    expect(await bed.quarantines("fail-app")).toEqual([]);
  });
});
