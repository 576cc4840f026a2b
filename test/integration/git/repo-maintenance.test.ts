import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { expect, it } from "vitest";
import { gitTestBed } from "../../helpers/git-test-bed.js";
import { until } from "../../helpers/until.js";

// gc repacks once a repo has more than 3 packs (git's default is 50).
const bed = gitTestBed({ maintenance: { gitConfig: { "gc.autoPackLimit": "3" } } });
const { builder, client, dirs } = bed;

it("keeps each push as a pack, and git gc --auto merges them after pushes once there are too many", async () => {
  const gitDir = bed.gitDir("packs-app");
  const work = await dirs.make();
  await client.initRepo(work);
  const packs: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) await client.commit(work, `f${i}.txt`, `change ${i}\n`, `change ${i}`);
    const push = await client.run(["push", bed.server.url("packs-app"), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    await bed.server.handler.maintenanceIdle();
    packs.push((await readdir(path.join(gitDir, "objects", "pack"))).filter((f) => f.endsWith(".pack")).length);
    // No push was unpacked into loose objects, not even one of three objects.
    expect(await client.ok(["--git-dir", gitDir, "count-objects", "-v"], work)).toMatch(/^count: 0$/m);
  }
  expect(packs).toEqual([1, 2, 3, 1, 2]);
  const head = await client.ok(["rev-parse", "HEAD"], work);
  expect(await client.ok(["--git-dir", gitDir, "rev-parse", "refs/heads/main"], work)).toBe(head);
  expect((await client.run(["--git-dir", gitDir, "fsck", "--strict"], work)).code).toBe(0);
});

it("removes an app's repo at once, but not while a push to it builds; the next push starts a new repo", async () => {
  const gitDir = bed.gitDir("gone-app");
  const work = await dirs.make();
  await client.initRepo(work);
  builder.plan = { steps: ["building", { sleepMs: 1500 }, "done"] };
  const pushing = client.run(["push", bed.server.url("gone-app"), "HEAD:main"], work);
  await until(() => builder.builds.some((b) => b.request.app === "gone-app"));
  await expect(bed.server.handler.removeRepo("gone-app")).rejects.toMatchObject({ code: "APP_BUSY" });
  expect((await pushing).code).toBe(0);
  builder.plan = {};
  expect(await bed.server.handler.removeRepo("gone-app")).toBe(true);
  await expect(stat(gitDir)).rejects.toMatchObject({ code: "ENOENT" });
  expect((await readdir(bed.server.reposDir)).filter((n) => n.includes("gone-app"))).toEqual([]);
  expect(await bed.server.handler.removeRepo("gone-app")).toBe(false);

  // A new history under the same name: no "fetch first", the old commits are gone.
  const fresh = await dirs.make();
  const head = await client.initRepo(fresh);
  const again = await client.run(["push", bed.server.url("gone-app"), "HEAD:main"], fresh);
  expect(again.code, again.stderr).toBe(0);
  expect(bed.server.created.filter((a) => a === "gone-app")).toHaveLength(2);
  expect(await client.ok(["--git-dir", gitDir, "rev-list", "--all"], fresh)).toBe(head);
});

