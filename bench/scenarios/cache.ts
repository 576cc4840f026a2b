import { appendFile } from "node:fs/promises";
import path from "node:path";
import { appName, createApp, WHEELHOUSE_VARS, type BenchContext } from "../lib/context.js";
import { fixtureRepo } from "../lib/git.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";

/**
 * The Flask sample pushed to a new app (cold: empty CACHE_DIR), then a change to app.py pushed to
 * the same app (warm: requirements unchanged, the cache of the first build restored). The warm
 * push starts once the server is idle again: the spare copy of the cache it makes after a build
 * (off the push's path) is not part of either build, and its time is reported on its own line.
 */
export async function cacheScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const server = await ctx.pythonServer();
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
    const builds = await server.api<{ phases: { phase: string; ms: number }[] }[]>("GET", `/api/apps/${name}/builds`);
    // The API lists builds newest first. Every phase, so a miss shows where the time went.
    const [warmBuild, coldBuild] = builds;
    for (const p of coldBuild?.phases ?? []) {
      rec.add(`  phase ${p.phase}: cold`, "ms", p.ms);
      rec.add(`  phase ${p.phase}: warm`, "ms", warmBuild?.phases.find((w) => w.phase === p.phase)?.ms ?? NaN);
    }
  }
  return rec.result("cache", [{ metric: "warm / cold", max: 0.25, text: "warm rebuild <= 0.25 x cold build" }]);
}
