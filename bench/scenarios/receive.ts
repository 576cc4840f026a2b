import { appendFile, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { appName, type BenchContext } from "../lib/context.js";
import { blobsRepo, manyFilesRepo } from "../lib/git.js";
import { startHttpBackend, type HttpBackend } from "../lib/http-backend.js";
import { BENCH_BUILDPACKS } from "../lib/paths.js";
import { ok } from "../lib/proc.js";
import { Recorder, summarize, type ScenarioResult } from "../lib/report.js";
import { startSlugforge, type BenchServer } from "../lib/slugforge.js";

const MB = 1024 * 1024;
const SAME_SETTINGS = " (slugforge's git settings)";

interface Case {
  readonly key: "a" | "b";
  readonly label: string;
  /** Pushes per remote in one run; the run's sample is their median (a (b) push is ~0.5 s, so one stray process moves it). */
  readonly reps: number;
  make(dir: string): Promise<void>;
}

/**
 * A push of a generated repo to slugforge whose build does nothing (bench/server.ts puts a builder
 * that accepts every push at once in the build service's place: this times receiving, the hook
 * and the locks), against the same push to `git http-backend` behind a minimal Node CGI bridge
 * with the object checks slugforge's receive-pack makes (and, reported beside, with git's
 * defaults), and to a `file://` remote. Reported beside it, not part of the target: the same push with a real
 * build of a no-op buildpack (container, source in, detect/compile/release, /app out, slug), with
 * its phases. Every push goes to a new, empty repository. For (a) each run starts new server
 * processes, so their peak RSS (VmHWM) is that of the push.
 */
export async function receiveScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const blobBytes = ctx.quick ? 40 * MB : 200 * MB;
  const fileCount = ctx.quick ? 4000 : 20_000;
  const cases: Case[] = [
    { key: "a", label: `(a) ${blobBytes / MB} MB blobs`, reps: 1, make: (dir) => blobsRepo(ctx.git, dir, blobBytes, 50) },
    { key: "b", label: `(b) ${fileCount} files`, reps: ctx.quick ? 3 : 5, make: (dir) => manyFilesRepo(ctx.git, dir, fileCount) },
  ];
  const remotes = await ctx.tmp.make("remotes");
  // The baseline checks every object as slugforge's receive-pack does (transfer.fsckObjects, which
  // git's docs recommend and which costs about 12% on 200 MB of blobs); git's defaults are timed too.
  const backend = await startHttpBackend(remotes, { "transfer.fsckObjects": "true" });
  const plainBackend = await startHttpBackend(remotes);
  // Like for like: also slugforge's receive.unpackLimit=1 (keep every push as its pack; git's
  // default unpacks pushes under 100 objects into loose objects, deflating every blob again).
  const sameBackend = await startHttpBackend(remotes, { "transfer.fsckObjects": "true", "receive.unpackLimit": "1" });
  const shared: { receive?: BenchServer; build?: BenchServer } = {};
  const newServer = async (noBuild: boolean): Promise<BenchServer> =>
    startSlugforge({ dataDir: await ctx.tmp.make(noBuild ? "data-nobuild" : "data-noop"), buildpacksDir: BENCH_BUILDPACKS, shipped: ["noop"], noBuild });
  try {
    for (const c of cases) {
      ctx.progress(`receive ${c.label}: generating the repo`);
      const work = await ctx.tmp.make(`repo-${c.key}`);
      await c.make(work);
      for (let i = 0; i < ctx.runs; i++) {
        ctx.progress(`receive ${c.label}: run ${i + 1}/${ctx.runs}`);
        // (a) gets fresh servers each run: their VmHWM is then the peak of this push alone.
        const fresh = c.key === "a";
        const receiver = fresh ? await newServer(true) : (shared.receive ??= await newServer(true));
        const builder = fresh ? await newServer(false) : (shared.build ??= await newServer(false));
        try {
          // slugforge's push sits next to the baseline of the target, whichever way round.
          const steps: [string, () => Promise<number>][] = [
            [`${c.label}: git http-backend`, () => pushHttpBackend(ctx, c, backend, remotes, work)],
            [`${c.label}: slugforge push (no build)`, () => pushReceiveOnly(ctx, rec, c, receiver, work)],
            [`${c.label}: git http-backend${SAME_SETTINGS}`, () => pushHttpBackend(ctx, c, sameBackend, remotes, work)],
            [`${c.label}: git http-backend (git's defaults, no fsck)`, () => pushHttpBackend(ctx, c, plainBackend, remotes, work)],
            [`${c.label}: file:// remote`, () => pushFile(ctx, c, remotes, work)],
          ];
          const times = new Map<string, number[]>();
          for (let rep = 0; rep < c.reps; rep++) {
            for (const [name, push] of (i * c.reps + rep) % 2 ? [...steps].reverse() : steps) {
              // Each push starts with the last one's 200 MB written out, not still being written back.
              await ok("sync", []);
              times.set(name, [...(times.get(name) ?? []), await push()]);
            }
          }
          for (const [name, ms] of times) rec.add(name, "ms", summarize(ms, "ms").median);
          await ok("sync", []);
          await pushWithBuild(ctx, rec, c, builder, work);
        } finally {
          if (fresh) {
            for (const server of [receiver, builder]) {
              await server.stop();
              await rm(server.dataDir, { recursive: true, force: true });
            }
          }
        }
        rec.add(`${c.key}: slugforge / http-backend`, "x", rec.last(`${c.label}: slugforge push (no build)`) / rec.last(`${c.label}: git http-backend`));
        rec.add(`${c.key}: slugforge / http-backend${SAME_SETTINGS}`, "x", rec.last(`${c.label}: slugforge push (no build)`) / rec.last(`${c.label}: git http-backend${SAME_SETTINGS}`));
        rec.add(`${c.key}: slugforge / http-backend with git's defaults`, "x", rec.last(`${c.label}: slugforge push (no build)`) / rec.last(`${c.label}: git http-backend (git's defaults, no fsck)`));
        rec.add(`${c.key}: with the no-op build / http-backend`, "x", rec.last(`${c.label}: slugforge push + no-op build`) / rec.last(`${c.label}: git http-backend`));
      }
      await rm(work, { recursive: true, force: true });
    }
  } finally {
    await backend.close();
    await plainBackend.close();
    await sameBackend.close();
    await shared.receive?.stop();
    await shared.build?.stop();
  }
  rec.note("git http-backend = git's defaults plus the object checks slugforge makes (transfer.fsckObjects); slugforge also keeps every push as its pack (receive.unpackLimit=1), which the like-for-like line gives http-backend too");
  rec.note("slugforge push (no build) = receive-pack behind slugforge's HTTP handler, auth, the pre-receive hook and bridge, the app lock; the builder accepts at once");
  rec.note("slugforge push + no-op build = the same with the build service and a buildpack that compiles nothing: not part of the target, shown for what a build costs on top");
  return rec.result("receive", [
    { metric: "a: slugforge / http-backend", max: 1.1, text: "(a) push wall <= 1.10 x git http-backend" },
    { metric: "b: slugforge / http-backend", max: 1.1, text: "(b) push wall <= 1.10 x git http-backend" },
    { metric: "(a) server peak RSS", max: 150, text: "(a) server peak RSS <= 150 MB" },
    { metric: "b: second push, 10 changed, with the no-op build / http-backend", max: 3, text: "(b) second push with 10 files changed, real no-op build <= 3 x git http-backend" },
  ]);
}

async function pushHttpBackend(ctx: BenchContext, c: Case, backend: HttpBackend, remotes: string, work: string): Promise<number> {
  const name = appName(`hb-${c.key}`);
  const bare = path.join(remotes, `${name}.git`);
  await ctx.git.initBare(bare);
  const r = await ctx.git.push(`${backend.base}/${name}.git`, work);
  await rm(bare, { recursive: true, force: true });
  return r.ms;
}

async function pushFile(ctx: BenchContext, c: Case, remotes: string, work: string): Promise<number> {
  const bare = path.join(remotes, `${appName(`file-${c.key}`)}.git`);
  await ctx.git.initBare(bare);
  const r = await ctx.git.push(`file://${bare}`, work);
  await rm(bare, { recursive: true, force: true });
  return r.ms;
}

interface BuildInfo {
  status: string;
  phases: { phase: string; ms: number }[];
}

async function pushReceiveOnly(ctx: BenchContext, rec: Recorder, c: Case, server: BenchServer, work: string): Promise<number> {
  const name = appName(`rcv-${c.key}`);
  // Made before the push (its repo too), as the baselines' bare repos are.
  await server.api("POST", "/api/apps", { name });
  const sampling = c.key === "a" ? server.sampleRss() : undefined;
  const r = await ctx.git.push(server.url(name), work);
  const sampledMax = sampling?.();
  if (c.key === "a") {
    rec.add("(a) server peak RSS", "MB", server.peakRss() / MB);
    rec.add("(a) server max sampled RSS", "MB", (sampledMax ?? 0) / MB);
  }
  await server.api("DELETE", `/api/apps/${name}`).catch(() => undefined);
  return r.ms;
}

async function pushWithBuild(ctx: BenchContext, rec: Recorder, c: Case, server: BenchServer, work: string): Promise<void> {
  const name = appName(`bld-${c.key}`);
  const r = await ctx.git.push(server.url(name), work);
  rec.add(`${c.label}: slugforge push + no-op build`, "ms", r.ms);
  const builds = await server.api<BuildInfo[]>("GET", `/api/apps/${name}/builds`);
  const build = builds[0];
  if (build?.status !== "succeeded") throw new Error(`slugforge accepted the push but its build is ${build?.status ?? "missing"}`);
  rec.add(`${c.label}:   of which build phases`, "ms", build.phases.reduce((sum, p) => sum + p.ms, 0));
  for (const p of build.phases) rec.add(`${c.label}:     phase ${p.phase}`, "ms", p.ms);
  if (c.key === "a") rec.add("(a) with the build: server peak RSS", "MB", server.peakRss() / MB);
  await server.idle();
  if (c.key === "b") await secondPush(ctx, rec, c, server, name, work);
  await server.api("DELETE", `/api/apps/${name}`).catch(() => undefined);
}

/**
 * (b) again with 10 files changed, the way a developer pushes after the first deploy: the same
 * app's second build (a real one: the tree is new) against http-backend receiving the same second
 * push into a repo that has the first. The work tree goes back to its first commit afterwards.
 */
async function secondPush(ctx: BenchContext, rec: Recorder, c: Case, server: BenchServer, app: string, work: string): Promise<void> {
  const modules = (await readdir(path.join(work, "src"))).sort().slice(0, 10);
  for (const [i, m] of modules.entries()) {
    const files = (await readdir(path.join(work, "src", m))).sort();
    await appendFile(path.join(work, "src", m, files[0]!), `\n# changed for the second push (${i})\n`);
  }
  await ctx.git.commitAll(work, "ten files changed");
  try {
    const bare = path.join(path.dirname(work), `${appName("hb-second")}.git`);
    await ctx.git.initBare(bare);
    await ctx.git.ok(["push", "-q", `file://${bare}`, "HEAD~1:refs/heads/main"], work);
    await ok("sync", []);
    const backend = await startHttpBackend(path.dirname(bare), { "transfer.fsckObjects": "true" });
    let baseline: number;
    try {
      baseline = (await ctx.git.push(`${backend.base}/${path.basename(bare)}`, work)).ms;
    } finally {
      await backend.close();
      await rm(bare, { recursive: true, force: true });
    }
    await ok("sync", []);
    const r = await ctx.git.push(server.url(app), work);
    const builds = await server.api<BuildInfo[]>("GET", `/api/apps/${app}/builds`);
    if (builds[0]?.status !== "succeeded") throw new Error(`the second (b) push's build is ${builds[0]?.status ?? "missing"}`);
    rec.add(`${c.label}, 10 changed: git http-backend`, "ms", baseline);
    rec.add(`${c.label}, 10 changed: slugforge push + no-op build`, "ms", r.ms);
    for (const p of builds[0].phases) rec.add(`${c.label}, 10 changed:     phase ${p.phase}`, "ms", p.ms);
    rec.add("b: second push, 10 changed, with the no-op build / http-backend", "x", r.ms / baseline);
    await server.idle();
  } finally {
    await ctx.git.ok(["reset", "-q", "--hard", "HEAD~1"], work);
  }
}
