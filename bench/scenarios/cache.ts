import { appendFile } from "node:fs/promises";
import path from "node:path";
import { appName, createApp, WHEELHOUSE_VARS, type BenchContext } from "../lib/context.js";
import { fixtureRepo } from "../lib/git.js";
import { startHttpBackend } from "../lib/http-backend.js";
import { Recorder, summarize, type ScenarioResult } from "../lib/report.js";

/** Empty commits pushed to both in each run (the reused case). */
const REUSED_REPS = 5;

/**
 * The Flask sample pushed to a new app (cold: empty CACHE_DIR), then a change to app.py pushed to
 * the same app (warm: requirements unchanged, the cache of the first build restored). The warm
 * push starts once the server is idle again: the spare copy of the cache it makes after a build
 * (off the push's path) is not part of either build, and its time is reported on its own line.
 * Then, as people push: another change pushed the moment the warm push returned (the background
 * work of the warm build still running), and an empty commit (the tree built already: its slug is
 * reused), timed against git http-backend receiving the same empty commit (the median of five).
 */
export async function cacheScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const server = await ctx.pythonServer();
  const remotes = await ctx.tmp.make("cache-remotes");
  const backend = await startHttpBackend(remotes, { "transfer.fsckObjects": "true", "receive.unpackLimit": "1" });
  try {
    for (let i = 0; i < ctx.runs; i++) {
      ctx.progress(`cache: run ${i + 1}/${ctx.runs}`);
      const name = appName("cache");
      const work = await ctx.tmp.make("cache-src");
      await fixtureRepo(ctx.git, "python-flask", work);
      await createApp(server, name, WHEELHOUSE_VARS);
      const cold = await ctx.git.push(server.url(name), work);
      // As between two real pushes, the server finishes what it does after a build (a spare copy
      // of the new cache for the next build) before the next push; how long that took is reported.
      const background = await server.idle();
      await appendFile(path.join(work, "app.py"), `\n# change ${i}\n`);
      await ctx.git.ok(["commit", "-q", "-am", "a change that keeps the dependencies"], work);
      const warm = await ctx.git.push(server.url(name), work);
      rec.add("cold build (git push)", "ms", cold.ms);
      rec.add("warm build (git push)", "ms", warm.ms);
      rec.add("warm / cold", "x", warm.ms / cold.ms);
      rec.add("  background work after the cold build (waited for)", "ms", background);

      // Right after: the previous push has returned, its background work has not finished.
      await appendFile(path.join(work, "app.py"), `\n# another change ${i}\n`);
      await ctx.git.ok(["commit", "-q", "-am", "another change, pushed at once"], work);
      const rightAfter = await ctx.git.push(server.url(name), work);
      rec.add("warm build pushed right after the last push", "ms", rightAfter.ms);
      rec.add("right after / cold", "x", rightAfter.ms / cold.ms);

      // A tree built already: the baseline receives the same history first, then the same push.
      await server.idle();
      const bare = path.join(remotes, `${name}.git`);
      await ctx.git.initBare(bare);
      await ctx.git.push(`${backend.base}/${name}.git`, work);
      const steps: [string, () => Promise<number>][] = [
        ["push of a tree built already (slug reused)", async () => (await ctx.git.push(server.url(name), work)).ms],
        ["git http-backend, the same push", async () => (await ctx.git.push(`${backend.base}/${name}.git`, work)).ms],
      ];
      // A push of ~100 ms moves with one stray process: the run's sample is the median of several
      // empty commits, each pushed to both, which goes first alternating.
      const times = new Map<string, number[]>();
      for (let rep = 0; rep < REUSED_REPS; rep++) {
        await ctx.git.ok(["commit", "-q", "--allow-empty", "-m", `the same tree again (${rep})`], work);
        for (const [label, push] of (i * REUSED_REPS + rep) % 2 ? [...steps].reverse() : steps) times.set(label, [...(times.get(label) ?? []), await push()]);
      }
      for (const [label, ms] of times) rec.add(label, "ms", summarize(ms, "ms").median);
      rec.add("reused / http-backend", "x", rec.last(steps[0]![0]) / rec.last(steps[1]![0]));

      const builds = await server.api<{ phases: { phase: string; ms: number }[] }[]>("GET", `/api/apps/${name}/builds`);
      // The API lists builds newest first. Every phase, so a miss shows where the time went.
      const [afterBuild, warmBuild, coldBuild] = builds.slice(REUSED_REPS);
      for (const p of coldBuild?.phases ?? []) {
        rec.add(`  phase ${p.phase}: cold`, "ms", p.ms);
        rec.add(`  phase ${p.phase}: warm`, "ms", warmBuild?.phases.find((w) => w.phase === p.phase)?.ms ?? NaN);
        rec.add(`  phase ${p.phase}: right after`, "ms", afterBuild?.phases.find((w) => w.phase === p.phase)?.ms ?? NaN);
      }
    }
  } finally {
    await backend.close();
  }
  return rec.result("cache", [
    { metric: "warm / cold", max: 0.15, text: "warm rebuild (background work done) <= 0.15 x cold build" },
    { metric: "right after / cold", max: 0.25, text: "warm rebuild pushed right after the last push <= 0.25 x cold build" },
    { metric: "reused / http-backend", max: 1.3, text: "push of a tree built already <= 1.3 x git http-backend receiving it" },
  ]);
}
