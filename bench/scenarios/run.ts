import path from "node:path";
import { appName, type BenchContext } from "../lib/context.js";
import { fixtureRepo } from "../lib/git.js";
import { REPO } from "../lib/paths.js";
import { ok, run } from "../lib/proc.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";
import { BENCH_TOKEN, startSlugforge, waitForImage } from "../lib/slugforge.js";

/** Pairs per run: each pair is one sample of the ratio. */
const PAIRS = 5;

/**
 * A one-off process that does nothing: `slugforge run APP -- true` (the CLI, the server's API, a
 * container of the release) against `docker run --rm IMAGE true` of the same release's image,
 * loaded into the engine by the push. Paired and back to back, the order alternating; every pair
 * is a sample, so the table's max is the worst pair.
 */
export async function runScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const { dir: buildpacksDir } = await ctx.buildpacks();
  // bridge, as `docker run` gives its container: the bench servers' default (none) would favour slugforge.
  const server = await startSlugforge({
    buildpacksDir,
    dataDir: await ctx.tmp.make("data-run"),
    env: { SLUGFORGE_IMAGES: "on", SLUGFORGE_BUILD_NETWORK: "bridge" },
  });
  const name = appName("run");
  let image: string | undefined;
  try {
    const work = await ctx.tmp.make("run-src");
    await fixtureRepo(ctx.git, "python-stdlib", work);
    await ctx.git.push(server.url(name), work);
    image = (await waitForImage(server, name, 1)).image!.name;
    const env = { ...process.env, SLUGFORGE_URL: server.base, SLUGFORGE_TOKEN: BENCH_TOKEN, NO_COLOR: "1" };
    const slugforge = async (): Promise<number> => (await ok(process.execPath, [path.join(REPO, "bin", "slugforge.js"), "run", name, "--", "true"], { env })).ms;
    const docker = async (): Promise<number> => (await ok("docker", ["run", "--rm", image!, "true"])).ms;
    // One of each first, unmeasured (cold caches, the CLI's first load).
    await slugforge();
    await docker();
    for (let i = 0; i < ctx.runs; i++) {
      ctx.progress(`run: run ${i + 1}/${ctx.runs} (${PAIRS} pairs)`);
      for (let p = 0; p < PAIRS; p++) {
        let sf = 0;
        let dk = 0;
        const steps = [async () => void (sf = await slugforge()), async () => void (dk = await docker())];
        for (const step of (i * PAIRS + p) % 2 ? [...steps].reverse() : steps) await step();
        rec.add("slugforge run APP -- true", "ms", sf);
        rec.add("docker run --rm IMAGE true", "ms", dk);
        rec.add("slugforge run / docker run", "x", sf / dk);
      }
      // Where slugforge's time goes, in part: the CLI's own start (node loading it), no server.
      rec.add("  slugforge --help (the CLI's start alone)", "ms", (await ok(process.execPath, [path.join(REPO, "bin", "slugforge.js"), "--help"], { env })).ms);
    }
    rec.note(`${PAIRS} pairs a run, each pair a sample; the stdlib sample's image ${image}; slugforge's run container on bridge, as docker run's`);
  } finally {
    await server.stop();
    if (image) await run("docker", ["rmi", image, image.replace(/:v\d+$/, ":latest")]).catch(() => undefined);
  }
  return rec.result("run", [{ metric: "slugforge run / docker run", max: 1.5, text: "slugforge run APP -- true <= 1.5 x docker run --rm IMAGE true (median)" }]);
}
