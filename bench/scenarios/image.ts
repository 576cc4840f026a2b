import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { createDockerRuntime } from "../../src/docker/dockerode-runtime.js";
import { knownBlobs, makeReleaseImage, type MakeImageDeps } from "../../src/images/make-image.js";
import { createRegistryClient } from "../../src/images/registry-client.js";
import { stackLayers } from "../../src/images/stack-layers.js";
import { createFsSlugStore } from "../../src/slug/fs-slug-store.js";
import { storeSlug } from "../../src/slug/slug-writer.js";
import type { ReleaseRecord, SlugRecord } from "../../src/store/types.js";
import { createTestRegistry } from "../../test/helpers/registry.js";
import { buildSampleApp } from "../lib/built-app.js";
import type { BenchContext } from "../lib/context.js";
import { run } from "../lib/proc.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";

const MB = 1024 * 1024;

/**
 * A new release's image in a registry (Debian's docker-registry on loopback): slugforge's
 * makeReleaseImage with the release's slug already made (the build makes it), against what a
 * person would run for the same /app: `docker build` (FROM the run image, COPY the app as uid 1000)
 * and `docker push`. Both sides have pushed an earlier release of the app to the same registry, so
 * the run image's layers are there for both; each run changes one file of the app.
 */
export async function imageScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const built = await buildSampleApp(ctx);
  if (built.fixture !== "python-django") rec.note(`measured on the ${built.fixture} sample: ${built.fallback ?? "Django did not build"}`);
  const registry = await createTestRegistry(await ctx.tmp.make("image-registry"));
  await registry.start();
  const work = await ctx.tmp.make("image-work");
  const tags: string[] = [];
  try {
    const runtime = createDockerRuntime();
    const slugs = createFsSlugStore(path.join(work, "slugs"));
    const cacheDir = path.join(work, "images");
    const setting = { host: registry.host, prefix: "bench", scheme: "http" as const };
    const deps: MakeImageDeps = {
      runtime,
      slugs,
      cacheDir,
      registry: { setting, client: createRegistryClient(setting, { timeoutMs: 60_000 }), known: knownBlobs(cacheDir, setting) },
      stackLayers: (base) => stackLayers(runtime, base, cacheDir),
    };

    /** The app with one file changed, as a new commit would; its slug, made as the build makes it. */
    const nextRelease = async (version: number): Promise<{ release: ReleaseRecord; slug: SlugRecord }> => {
      await writeFile(path.join(built.root, "app", "BENCH_RELEASE"), `${version} ${randomBytes(16).toString("hex")}\n`);
      const tar = spawn("tar", ["-cf", "-", "--sort=name", "-C", built.root, "app"], { stdio: ["ignore", "pipe", "inherit"] });
      const stored = await storeSlug(tar.stdout, slugs, { maxBytes: Number.MAX_SAFE_INTEGER });
      const processTypes = { web: "gunicorn mysite.wsgi" };
      const slug: SlugRecord = { id: stored.id, app: "bench", sizeBytes: stored.sizeBytes, commit: "0".repeat(40), buildpacks: ["python"], stack: "debian-13", processTypes, createdAt: new Date(0).toISOString() };
      const release: ReleaseRecord = { app: "bench", version, slugId: stored.id, config: {}, processTypes, description: "", createdAt: "", image: null, imageError: null };
      return { release, slug };
    };
    const slugforge = async (version: number): Promise<number> => {
      const { release, slug } = await nextRelease(version);
      const t = performance.now();
      await makeReleaseImage(deps, { release, slug, firstRelease: version, latest: true });
      return performance.now() - t;
    };
    const docker = async (version: number): Promise<{ build: number; push: number }> => {
      await writeFile(path.join(built.root, "app", "BENCH_RELEASE"), `${version} ${randomBytes(16).toString("hex")}\n`);
      const tag = `${registry.host}/bench-docker/bench:v${version}`;
      tags.push(tag);
      await writeFile(path.join(built.root, "Dockerfile"), "FROM slugforge/stack:debian-13-run\nCOPY --chown=1000:1000 app /app\nUSER 1000:1000\nWORKDIR /app\n");
      const build = await run("docker", ["build", "-q", "-t", tag, built.root], { env: { ...process.env, DOCKER_BUILDKIT: "0" } });
      if (build.code !== 0) throw new Error(`docker build: ${build.stderr.slice(-500)}`);
      const push = await run("docker", ["push", tag]);
      if (push.code !== 0) throw new Error(`docker push: ${push.stderr.slice(-500)}`);
      return { build: build.ms, push: push.ms };
    };

    // An earlier release each, unmeasured: the run image's layers reach the registry (and
    // slugforge's gzipped copy of them is made) before the runs.
    ctx.progress("image: first release of each side (the run image's layers), unmeasured");
    rec.add("first image (stack layers exported, gzipped, sent)", "ms", await slugforge(1));
    await docker(1);
    for (let i = 0; i < ctx.runs; i++) {
      ctx.progress(`image: run ${i + 1}/${ctx.runs}`);
      const version = i + 2;
      const steps = [
        async () => rec.add("slugforge release image", "ms", await slugforge(version)),
        async () => {
          const d = await docker(version);
          rec.add("docker build + docker push", "ms", d.build + d.push);
          rec.add("  docker build", "ms", d.build);
          rec.add("  docker push", "ms", d.push);
        },
      ];
      for (const step of i % 2 ? [...steps].reverse() : steps) await step();
      rec.add("slugforge / docker build + push", "x", rec.last("slugforge release image") / rec.last("docker build + docker push"));
    }
    const slug = (await slugs.list())[0];
    if (slug) rec.note(`slug (the top layer) about ${(slug.sizeBytes / MB).toFixed(1)} MB; docker's layer is the same /app, compressed by docker push`);
  } finally {
    for (const tag of tags) await run("docker", ["rmi", "-f", tag]).catch(() => undefined);
    await registry.stop();
    await rm(path.join(built.root, "app", "BENCH_RELEASE"), { force: true });
    await rm(path.join(built.root, "Dockerfile"), { force: true });
  }
  return rec.result("image", [{ metric: "slugforge / docker build + push", max: 0.3, text: "a release's image <= 0.30 x docker build + docker push" }]);
}
