import { readdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { FakeBuilder } from "../../helpers/fake-builder.js";
import { GitClient } from "../../helpers/git-client.js";
import { startGitServer, type TestGitServer } from "../../helpers/git-server.js";
import { tmpDirs } from "../../helpers/tmp-dir.js";

const dirs = tmpDirs();
let server: TestGitServer;
let client: GitClient;

beforeAll(async () => {
  // gc repacks once a repo has more than 3 packs (git's default is 50).
  server = await startGitServer(await dirs.make(), new FakeBuilder(), { maintenance: { gitConfig: { "gc.autoPackLimit": "3" } } });
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
