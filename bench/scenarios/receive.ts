import { rm } from "node:fs/promises";
import path from "node:path";
import { appName, type BenchContext } from "../lib/context.js";
import { blobsRepo, manyFilesRepo } from "../lib/git.js";
import { startHttpBackend, type HttpBackend } from "../lib/http-backend.js";
import { BENCH_BUILDPACKS } from "../lib/paths.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";
import { startSlugforge, type BenchServer } from "../lib/slugforge.js";

const MB = 1024 * 1024;

interface Case {
  readonly key: "a" | "b";
  readonly label: string;
  make(dir: string): Promise<void>;
}

/**
 * A push of a generated repo through slugforge (a no-op buildpack: the build does nothing, but the
 * source still goes into a container and the /app that comes back is made into a slug), against
 * the same push to `git http-backend` behind a minimal Node CGI bridge, and to a `file://` remote.
 * Every push goes to a new, empty repository. For (a) each run starts a new server process, so its
 * peak RSS (VmHWM) is that of the push.
 */
export async function receiveScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const blobBytes = ctx.quick ? 40 * MB : 200 * MB;
  const fileCount = ctx.quick ? 4000 : 20_000;
  const cases: Case[] = [
    { key: "a", label: `(a) ${blobBytes / MB} MB blobs`, make: (dir) => blobsRepo(ctx.git, dir, blobBytes, 50) },
    { key: "b", label: `(b) ${fileCount} files`, make: (dir) => manyFilesRepo(ctx.git, dir, fileCount) },
  ];
  const remotes = await ctx.tmp.make("remotes");
  const backend = await startHttpBackend(remotes);
  let shared: BenchServer | undefined;
  const newServer = async (): Promise<BenchServer> =>
    startSlugforge({ dataDir: await ctx.tmp.make("data-noop"), buildpacksDir: BENCH_BUILDPACKS, shipped: ["noop"] });
  try {
    for (const c of cases) {
      ctx.progress(`receive ${c.label}: generating the repo`);
      const work = await ctx.tmp.make(`repo-${c.key}`);
      await c.make(work);
      for (let i = 0; i < ctx.runs; i++) {
        ctx.progress(`receive ${c.label}: run ${i + 1}/${ctx.runs}`);
        // (a) gets a fresh server each run: its VmHWM is then the peak of this push alone.
        const server = c.key === "a" ? await newServer() : (shared ??= await newServer());
        try {
          const steps = [
            () => pushHttpBackend(ctx, rec, c, backend, remotes, work),
            () => pushFile(ctx, rec, c, remotes, work),
            () => pushSlugforge(ctx, rec, c, server, work),
          ];
          for (const step of i % 2 ? [...steps].reverse() : steps) await step();
        } finally {
          if (c.key === "a") {
            await server.stop();
            await rm(server.dataDir, { recursive: true, force: true });
          }
        }
        rec.add(`${c.key}: slugforge / http-backend`, "x", rec.last(`${c.label}: slugforge push`) / rec.last(`${c.label}: git http-backend`));
      }
      await rm(work, { recursive: true, force: true });
    }
  } finally {
    await backend.close();
    await shared?.stop();
  }
  rec.note("slugforge push = receive + the no-op build (container, source in, detect/compile/release, /app out, slug); the build phases are its part of the wall");
  return rec.result("receive", [
    { metric: "a: slugforge / http-backend", max: 1.1, text: "(a) push wall <= 1.10 x git http-backend" },
    { metric: "b: slugforge / http-backend", max: 1.1, text: "(b) push wall <= 1.10 x git http-backend" },
    { metric: "(a) server peak RSS", max: 150, text: "(a) server peak RSS <= 150 MB" },
  ]);
}

async function pushHttpBackend(ctx: BenchContext, rec: Recorder, c: Case, backend: HttpBackend, remotes: string, work: string): Promise<void> {
  const name = appName(`hb-${c.key}`);
  const bare = path.join(remotes, `${name}.git`);
  await ctx.git.initBare(bare);
  const r = await ctx.git.push(`${backend.base}/${name}.git`, work);
  rec.add(`${c.label}: git http-backend`, "ms", r.ms);
  await rm(bare, { recursive: true, force: true });
}

async function pushFile(ctx: BenchContext, rec: Recorder, c: Case, remotes: string, work: string): Promise<void> {
  const bare = path.join(remotes, `${appName(`file-${c.key}`)}.git`);
  await ctx.git.initBare(bare);
  const r = await ctx.git.push(`file://${bare}`, work);
  rec.add(`${c.label}: file:// remote`, "ms", r.ms);
  await rm(bare, { recursive: true, force: true });
}

interface BuildInfo {
  status: string;
  phases: { phase: string; ms: number }[];
}

async function pushSlugforge(ctx: BenchContext, rec: Recorder, c: Case, server: BenchServer, work: string): Promise<void> {
  const name = appName(`rcv-${c.key}`);
  const sampling = c.key === "a" ? server.sampleRss() : undefined;
  const r = await ctx.git.push(server.url(name), work);
  const sampledMax = sampling?.();
  rec.add(`${c.label}: slugforge push`, "ms", r.ms);
  const builds = await server.api<BuildInfo[]>("GET", `/api/apps/${name}/builds`);
  const build = builds[0];
  if (build?.status !== "succeeded") throw new Error(`slugforge accepted the push but its build is ${build?.status ?? "missing"}`);
  const buildMs = build.phases.reduce((sum, p) => sum + p.ms, 0);
  rec.add(`${c.label}: slugforge push, build phases`, "ms", buildMs);
  rec.add(`${c.label}: slugforge push, without build`, "ms", r.ms - buildMs);
  for (const p of build.phases) rec.add(`${c.label}:   phase ${p.phase}`, "ms", p.ms);
  if (c.key === "a") {
    rec.add("(a) server peak RSS", "MB", server.peakRss() / MB);
    rec.add("(a) server max sampled RSS", "MB", (sampledMax ?? 0) / MB);
  }
  await server.api("DELETE", `/api/apps/${name}`).catch(() => undefined);
}
