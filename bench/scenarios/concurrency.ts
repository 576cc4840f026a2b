import { appName, type BenchContext } from "../lib/context.js";
import { fixtureRepo } from "../lib/git.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";

const APPS = 8;
const CONCURRENCY = 2;

/**
 * 8 new apps (the stdlib sample) pushed at once to a server that builds 2 at a time. Baseline: the
 * same 8 pushed one after another to new apps, each push's wall its single build time; the ideal
 * makespan with 2 slots is their sum / 2. Every push must be accepted and have its release.
 */
export async function concurrencyScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const server = await ctx.pythonServer();
  const work = await ctx.tmp.make("conc-src");
  await fixtureRepo(ctx.git, "python-stdlib", work);
  // 16 builds a run: unless --runs asks for more, 2 runs keep `npm run bench` within its time budget.
  const runs = ctx.runsGiven ? ctx.runs : Math.min(ctx.runs, 2);
  if (runs !== ctx.runs) rec.note(`${runs} runs (16 builds each); pass --runs to choose`);
  for (let i = 0; i < runs; i++) {
    ctx.progress(`concurrency: run ${i + 1}/${runs}: ${APPS} pushes one by one`);
    let sum = 0;
    for (let a = 0; a < APPS; a++) sum += (await ctx.git.push(server.url(appName("seq")), work)).ms;
    ctx.progress(`concurrency: run ${i + 1}/${runs}: ${APPS} pushes at once`);
    const names = Array.from({ length: APPS }, () => appName("conc"));
    const started = performance.now();
    const results = await Promise.all(names.map((n) => ctx.git.tryPush(server.url(n), work)));
    const makespan = performance.now() - started;
    const rejected = results.filter((r) => r.code !== 0).length;
    let lost = 0;
    for (const name of names) {
      const releases = await server.api<{ version: number }[]>("GET", `/api/apps/${name}/releases`).catch(() => []);
      if (releases.length !== 1) lost++;
    }
    for (const r of results.filter((r) => r.code !== 0)) ctx.progress(`concurrency: a push failed: ${r.stderr.slice(-500)}`);
    rec.add("sum of single builds / 2", "ms", sum / CONCURRENCY);
    rec.add(`makespan, ${APPS} at once`, "ms", makespan);
    rec.add("makespan / (sum / 2)", "x", makespan / (sum / CONCURRENCY));
    rec.add("failed or lost pushes", "count", rejected + lost);
  }
  return rec.result("concurrency", [
    { metric: "makespan / (sum / 2)", max: 1.15, text: "makespan <= 1.15 x (sum of single builds / 2)" },
    { metric: "failed or lost pushes", max: 0, text: "zero failed or lost pushes" },
  ]);
}
