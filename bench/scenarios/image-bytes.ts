import { appendFile, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { createTestRegistry } from "../../test/helpers/registry.js";
import { appName, type BenchContext } from "../lib/context.js";
import { startCountingProxy } from "../lib/counting-proxy.js";
import { fixtureRepo } from "../lib/git.js";
import { Recorder, type ScenarioResult } from "../lib/report.js";
import { startSlugforge, waitForImage } from "../lib/slugforge.js";

const MB = 1024 * 1024;

/**
 * What a second release costs the registry: the stdlib sample pushed twice to a server with
 * SLUGFORGE_REGISTRY set (Debian's docker-registry on loopback, behind a proxy that counts request
 * bodies), the second push changing app.py so a new slug is made. The bytes uploaded for the
 * second release's image (every request body through the proxy, from the push until the image is
 * recorded), and the blobs the registry's storage gained, are divided by the second slug's size.
 */
export async function imageBytesScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const rec = new Recorder();
  const registryDir = await ctx.tmp.make("bytes-registry");
  const registry = await createTestRegistry(registryDir);
  await registry.start();
  const proxy = await startCountingProxy(registry);
  const { dir: buildpacksDir, commit } = await ctx.buildpacks();
  const server = await startSlugforge({
    buildpacksDir,
    dataDir: await ctx.tmp.make("data-bytes"),
    env: { SLUGFORGE_IMAGES: "on", SLUGFORGE_REGISTRY: `${proxy.host}/bench` },
  });
  rec.note(`shipped Python buildpack as committed in ${commit.slice(0, 7)}; the stdlib sample, app.py changed between the pushes`);
  try {
    for (let i = 0; i < ctx.runs; i++) {
      ctx.progress(`image-bytes: run ${i + 1}/${ctx.runs}`);
      const name = appName("bytes");
      const work = await ctx.tmp.make("bytes-src");
      await fixtureRepo(ctx.git, "python-stdlib", work);
      const first = { bytes: proxy.bytes(), blobs: await blobSizes(registryDir) };
      await ctx.git.push(server.url(name), work);
      await waitForImage(server, name, 1);
      const before = { bytes: proxy.bytes(), blobs: await blobSizes(registryDir) };
      await appendFile(path.join(work, "app.py"), `\n# release 2 of run ${i}\n`);
      await ctx.git.ok(["commit", "-q", "-am", "a change: a new slug"], work);
      await ctx.git.push(server.url(name), work);
      const release = await waitForImage(server, name, 2);
      const after = { bytes: proxy.bytes(), blobs: await blobSizes(registryDir) };
      const slugs = await server.api<{ id: string; sizeBytes: number }[]>("GET", `/api/apps/${name}/slugs`);
      const slug = slugs.find((s) => s.id === release.slugId);
      if (!slug) throw new Error(`${name} v2's slug ${release.slugId} is not listed`);
      const uploaded = after.bytes - before.bytes;
      const added = sumAdded(before.blobs, after.blobs);
      rec.add("uploaded for the second release / its slug", "x", uploaded / slug.sizeBytes);
      rec.add("registry blobs added / slug", "x", added.bytes / slug.sizeBytes);
      rec.add("  second slug", "MB", slug.sizeBytes / MB);
      rec.add("  uploaded (request bodies)", "MB", uploaded / MB);
      rec.add("  uploaded - slug", "count", uploaded - slug.sizeBytes);
      rec.add("  blobs added (layer, config, manifest)", "count", added.count);
      if (i === 0) rec.add("  first release: uploaded (stack layers included)", "MB", (before.bytes - first.bytes) / MB);
    }
    rec.note("'uploaded - slug' is in bytes: the image config and the manifest, put as vN and as latest");
  } finally {
    await server.stop();
    await proxy.close();
    await registry.stop();
  }
  return rec.result("image-bytes", [{ metric: "uploaded for the second release / its slug", max: 1.05, text: "bytes uploaded for a second release <= 1.05 x its slug" }]);
}

/** Every blob in the registry's storage (`docker/registry/v2/blobs/sha256/xx/<hex>/data`) and its size. */
async function blobSizes(registryDir: string): Promise<Map<string, number>> {
  const root = path.join(registryDir, "storage", "docker", "registry", "v2", "blobs", "sha256");
  const sizes = new Map<string, number>();
  for (const prefix of await readdir(root).catch(() => [] as string[])) {
    for (const hex of await readdir(path.join(root, prefix))) sizes.set(hex, (await stat(path.join(root, prefix, hex, "data"))).size);
  }
  return sizes;
}

function sumAdded(before: Map<string, number>, after: Map<string, number>): { bytes: number; count: number } {
  let bytes = 0;
  let count = 0;
  for (const [hex, size] of after) {
    if (before.has(hex)) continue;
    bytes += size;
    count++;
  }
  return { bytes, count };
}
