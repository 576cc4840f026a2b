import path from "node:path";
import { describe, expect, it } from "vitest";
import { lastRemoteLine } from "../../helpers/git-client.js";
import { gitTestBed } from "../../helpers/git-test-bed.js";
import { until } from "../../helpers/until.js";

const bed = gitTestBed();
const { builder, client, dirs } = bed;

describe("concurrent pushes", () => {
  it("a second push to the same app waits, is told its position, then is rejected as stale without building", async () => {
    builder.plan = { steps: ["-----> quick"] };
    const base = await dirs.make();
    await client.initRepo(base);
    expect((await client.run(["push", bed.server.url("busy-app"), "HEAD:main"], base)).code).toBe(0);
    const [one, two] = [path.join(await dirs.make(), "one"), path.join(await dirs.make(), "two")];
    await client.ok(["clone", "-q", bed.server.url("busy-app"), one], base);
    await client.ok(["clone", "-q", bed.server.url("busy-app"), two], base);
    const first = await client.commit(one, "one.txt", "1\n", "one");
    await client.commit(two, "two.txt", "2\n", "two");

    builder.plan = { steps: ["-----> building slowly", { sleepMs: 3000 }, "-----> built"] };
    const before = builder.builds.length;
    const pushOne = client.spawnTimed(["push", "origin", "HEAD:main"], one);
    await until(() => builder.builds.length === before + 1);
    const pushTwo = client.spawnTimed(["push", "origin", "HEAD:main"], two);
    const [r1, r2] = await Promise.all([pushOne.done, pushTwo.done]);

    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain("-----> Waiting for another push to busy-app to finish (position 1)");
    expect(r2.stderr).toContain("main changed on the server while this push waited");
    expect(r2.stderr).toContain("Fetch and push again");
    expect(lastRemoteLine(r2.stderr)).toMatch(/^remote: !\s+REF_MOVED: nothing was built\. Fetch and push again: /);
    expect(r2.stderr).toContain("pre-receive hook declined");
    expect(builder.builds.length).toBe(before + 1);
    expect(await bed.serverRef("busy-app")).toBe(first);
    // The waiting line came while the first build was still running, not at the end.
    const waited = pushTwo.lines.find((l) => l.text.includes("Waiting for another push"));
    expect(r2.ms - waited!.t).toBeGreaterThan(1000);
  });

  it("the same commit pushed twice at once builds once", async () => {
    builder.plan = { steps: ["-----> quick"] };
    const work = await dirs.make();
    await client.initRepo(work);
    expect((await client.run(["push", bed.server.url("queue-app"), "HEAD:main"], work)).code).toBe(0);
    builder.plan = { steps: ["-----> building", { sleepMs: 2000 }] };
    const next = await client.commit(work, "n.txt", "n\n", "next");
    const before = builder.builds.length;
    const a = client.spawnTimed(["push", bed.server.url("queue-app"), "HEAD:main"], work);
    await until(() => builder.builds.length === before + 1);
    const b = client.spawnTimed(["push", bed.server.url("queue-app"), "HEAD:main"], work);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.code, ra.stderr).toBe(0);
    // git would refuse b's ref update anyway (main is no longer at b's old value): say so up front.
    expect(rb.code).toBe(1);
    expect(rb.stderr).toContain("(position 1)");
    expect(rb.stderr).toContain("changed on the server while this push waited");
    expect(lastRemoteLine(rb.stderr)).toMatch(/^remote: !\s+REF_MOVED: /);
    expect(builder.builds.length).toBe(before + 1);
    expect(await bed.serverRef("queue-app")).toBe(next);
  });

  it("pushes to two apps build at the same time", async () => {
    builder.plan = { steps: ["-----> building", { sleepMs: 2000 }, "-----> built"] };
    const before = builder.builds.length;
    const works = await Promise.all(["alpha-app", "beta-app"].map(async () => {
      const w = await dirs.make();
      await client.initRepo(w);
      return w;
    }));
    const runs = ["alpha-app", "beta-app"].map((app, i) => client.spawnTimed(["push", bed.server.url(app), "HEAD:main"], works[i]!));
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const builds = builder.builds.slice(before);
    expect(builds.map((b) => b.request.app).sort()).toEqual(["alpha-app", "beta-app"]);
    // Overlap: the second started before the first could have finished.
    expect(Math.abs(builds[0]!.startedAt - builds[1]!.startedAt)).toBeLessThan(1500);
    for (const r of results) expect(r.stderr).not.toContain("Waiting for another push");
  });
});
