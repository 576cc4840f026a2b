import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { FakeBuilder } from "../../helpers/fake-builder.js";
import { GitClient } from "../../helpers/git-client.js";
import { startGitServer, type TestGitServer } from "../../helpers/git-server.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";
import { until } from "../../helpers/until.js";

const dirs = tmpDirs();
let server: TestGitServer;
let client: GitClient;
const builder = new FakeBuilder();

beforeAll(async () => {
  // gc repacks once a repo has more than 3 packs (git's default is 50).
  server = await startGitServer(await dirs.make(), builder, { maintenance: { gitConfig: { "gc.autoPackLimit": "3" } } });
  client = new GitClient(await dirs.make());
});
afterAll(async () => {
  await server.close();
  await dirs.cleanup();
});

it("keeps each push as a pack, and git gc --auto merges them after pushes once there are too many", async () => {
  const gitDir = path.join(server.reposDir, "packs-app.git");
  const work = await dirs.make();
  await client.initRepo(work);
  const packs: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) await client.commit(work, `f${i}.txt`, `change ${i}\n`, `change ${i}`);
    const push = await client.run(["push", server.url("packs-app"), "HEAD:main"], work);
    expect(push.code, push.stderr).toBe(0);
    await server.handler.maintenanceIdle();
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
  const gitDir = path.join(server.reposDir, "gone-app.git");
  const work = await dirs.make();
  await client.initRepo(work);
  builder.plan = { steps: ["building", { sleepMs: 1500 }, "done"] };
  const pushing = client.run(["push", server.url("gone-app"), "HEAD:main"], work);
  await until(() => builder.builds.some((b) => b.request.app === "gone-app"));
  await expect(server.handler.removeRepo("gone-app")).rejects.toMatchObject({ code: "APP_BUSY" });
  expect((await pushing).code).toBe(0);
  builder.plan = {};
  expect(await server.handler.removeRepo("gone-app")).toBe(true);
  await expect(stat(gitDir)).rejects.toMatchObject({ code: "ENOENT" });
  expect((await readdir(server.reposDir)).filter((n) => n.includes("gone-app"))).toEqual([]);
  expect(await server.handler.removeRepo("gone-app")).toBe(false);

  // A new history under the same name: no "fetch first", the old commits are gone.
  const fresh = await dirs.make();
  const head = await client.initRepo(fresh);
  const again = await client.run(["push", server.url("gone-app"), "HEAD:main"], fresh);
  expect(again.code, again.stderr).toBe(0);
  expect(server.created.filter((a) => a === "gone-app")).toHaveLength(2);
  expect(await client.ok(["--git-dir", gitDir, "rev-list", "--all"], fresh)).toBe(head);
});

