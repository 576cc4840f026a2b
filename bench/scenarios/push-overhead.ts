import { rm } from "node:fs/promises";
import path from "node:path";
import { appName, type BenchContext } from "../lib/context.js";
import { dockerFloor } from "../lib/docker-floor.js";
import { fixtureRepo } from "../lib/git.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";

/**
 * A full `git push` of the stdlib Python sample to slugforge until it is accepted (receive, hook,
 * queue, build with the shipped Python buildpack, slug stored, release recorded), against the
 * floor: the same detect/compile/release run by hand with the docker CLI, plus `tar -czf` of /app.
 */
export async function pushOverheadScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const server = await ctx.pythonServer();
  const work = await ctx.tmp.make("push-src");
  await fixtureRepo(ctx.git, "python-stdlib", work);
  const out = await ctx.tmp.make("push-floor");
  const { dir: buildpacksDir, commit } = await ctx.buildpacks();
  rec.note(`shipped Python buildpack as committed in ${commit.slice(0, 7)}, for slugforge and the floor alike`);
  // One of each first, unmeasured: the first container of a run pays for cold image layers.
  await dockerFloor({ appDir: work, buildpacksDir, slugFile: path.join(out, "warmup.tgz") });
  await ctx.git.push(server.url(appName("warm")), work);
  for (let i = 0; i < ctx.runs; i++) {
    ctx.progress(`push: run ${i + 1}/${ctx.runs}`);
    const steps = [
      async () => {
        const r = await ctx.git.push(server.url(appName("push")), work);
        rec.add("slugforge git push, until accepted", "ms", r.ms);
      },
      async () => {
        const floor = await dockerFloor({ appDir: work, buildpacksDir, slugFile: path.join(out, `slug-${i}.tgz`) });
        rec.add("floor: docker CLI + tar -czf", "ms", floor.totalMs);
        for (const [name, ms] of Object.entries(floor.steps)) rec.add(`  floor step: ${name}`, "ms", ms);
      },
    ];
    for (const step of i % 2 ? [...steps].reverse() : steps) await step();
    const pushed = rec.last("slugforge git push, until accepted");
    const floor = rec.last("floor: docker CLI + tar -czf");
    rec.add("slugforge / floor", "x", pushed / floor);
    rec.add("overhead (slugforge - floor)", "ms", pushed - floor);
  }
  await rm(out, { recursive: true, force: true });
  return rec.result("push", [{ metric: "slugforge / floor", max: 1.1, text: "push wall <= 1.10 x the docker CLI floor" }]);
}
