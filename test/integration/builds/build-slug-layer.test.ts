import { execFileSync } from "node:child_process";
import { access, mkdir, readdir, writeFile } from "node:fs/promises";
import { PassThrough } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { ContainerRuntime } from "../../../src/docker/container-runtime.js";
import { configureFailpoints } from "../../../src/util/failpoints.js";
import { bareRepoWithCommit, captureOutput, readSlug, request, runtime, slugFile, suiteTempDir, testService } from "./helpers.js";

/*
 * In layer mode the slug step reads /app from the build container's writable layer with the
 * host's tar, and the release step reads the Procfile there; otherwise both go through the
 * engine, inside the container. Whatever shape the build leaves /app in, both give the same slug,
 * byte for byte, and the same process types.
 */
const SHAPE = String.raw`set -eu
d="$1"
mkdir -p "$d/a/b/c" "$d/empty" "$d/.git/objects"
printf 'x\n' > "$d/a/b/c/file"
echo git > "$d/.git/HEAD"
ln "$d/a/b/c/file" "$d/hard"
ln -s a/b/c/file "$d/soft"
ln -s /etc/passwd "$d/absolute-link"
ln -s ../../../../.. "$d/up-link"
long="$(printf 'n%.0s' $(seq 1 150))"
mkdir -p "$d/$long/$long"
echo deep > "$d/$long/$long/$long"
touch "$d/$(printf 'caf\351')"
mkfifo "$d/fifo"
echo gone > "$d/gone"
rm "$d/gone"
mkdir "$d/gone-dir"
echo x > "$d/gone-dir/x"
rm -rf "$d/gone-dir"
mv "$d/a/b/c/file" "$d/a/moved"
chmod 4755 "$d/hard"
chmod 0700 "$d/empty"
seq 1 400000 > "$d/numbers.txt"
case "$(cat "$d/PROCFILE")" in
  link) mkdir -p "$d/procs"; printf 'web: ./serve\nworker: ./work\n' > "$d/procs/real"; ln -s procs/real "$d/Procfile" ;;
  dir) mkdir -p "$d/Procfile" ;;
  file) printf 'web: ./serve\nnot a line\n' > "$d/Procfile" ;;
esac
`;

/** The real engine, but saying it gives no access to containers' layers: the slug is read through the engine. */
const engineOnly: ContainerRuntime = { ...runtime, layerAccess: async () => false };

describe("the slug read from the build container's layer (real Docker)", () => {
  const root = suiteTempDir();

  it.each([
    { procfile: "link", types: { web: "./serve", worker: "./work" } },
    { procfile: "dir", types: {} },
    { procfile: "file", types: { web: "./serve" } },
    { procfile: "none", types: {} },
  ])("is the slug and process types the engine's view of /app gives, whatever the build left there (Procfile: $procfile)", async ({ procfile, types }) => {
    const repo = await bareRepoWithCommit(`${root.dir}/app-${procfile}`, { SHAPE, PROCFILE: procfile, "keep.txt": "kept\n" });
    const logs = new PassThrough();
    const lines: string[] = [];
    logs.on("data", (b: Buffer) => lines.push(...b.toString("utf8").split("\n").filter(Boolean)));
    const built = async (data: string, options: Parameters<typeof testService>[1]): Promise<{ file: string; types: unknown; output: string }> => {
      const service = testService(data, { shipped: ["shaper"], ...options });
      const out = captureOutput();
      const result = await service.build(request("shaped", repo), out, new AbortController().signal);
      expect(result.error, out.text()).toBeUndefined();
      await service.close();
      return { file: slugFile(data, result), types: result.processTypes, output: out.text() };
    };
    const fromLayer = await built(`${root.dir}/data-layer-${procfile}`, { logStream: logs });
    const written = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "slug written");
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ from: "layer" });
    const fromEngine = await built(`${root.dir}/data-engine-${procfile}`, { runtime: engineOnly, env: { SLUGFORGE_BUILD_CACHE_MODE: "tar" } });
    expect(fromLayer.file.split("/").at(-1)).toBe(fromEngine.file.split("/").at(-1));
    expect(fromLayer.types).toEqual(types);
    expect(fromEngine.types).toEqual(types);
    const invalid = 'Procfile: ignored a line that is not "name: command": not a line';
    expect(fromLayer.output.includes(invalid)).toBe(procfile === "file");
    expect(fromEngine.output.includes(invalid)).toBe(procfile === "file");

    const slug = await readSlug(fromLayer.file);
    expect(slug.get("./app/a/moved")?.content).toBe("x\n");
    expect(slug.get("./app/hard")?.mode).toBe(0o755);
    expect(slug.get("./app/absolute-link")?.type).toBe("symlink");
    expect(slug.has("./app/gone")).toBe(false);
    expect(slug.has("./app/.git/HEAD")).toBe(false);
    expect(slug.get("./app/numbers.txt")?.content.length).toBeGreaterThan(2_000_000);
  });

  it("fails the build with BUILD_CONTAINER_LOST, and keeps no slug, when the container is removed while its /app is read", async () => {
    const points = `${root.dir}/failpoints`;
    await mkdir(points);
    configureFailpoints(points);
    try {
      // 40 MiB of random bytes: the host's tar is mid-way through /app when the slug writer is held.
      const repo = await bareRepoWithCommit(`${root.dir}/bulky`, { BULK_MB: "40" });
      const data = `${root.dir}/data-bulky`;
      const service = testService(data, { shipped: ["static"] });
      await writeFile(`${points}/bulky.arm`, "slug-compress");
      const out = captureOutput();
      const building = service.build(request("bulky", repo), out, new AbortController().signal);
      for (let i = 0; i < 600 && !(await access(`${points}/bulky.reached`).then(() => true, () => false)); i++) await sleep(100);
      const ids = await runtime.listContainers("org.slugforge.app=bulky");
      expect(ids).toHaveLength(1);
      execFileSync("docker", ["rm", "-f", ...ids], { stdio: "ignore" });
      await writeFile(`${points}/bulky.go`, "");
      const result = await building;
      expect(result.error?.code, out.text()).toBe("BUILD_CONTAINER_LOST");
      const stored = await readdir(`${data}/slugs/sha256`, { recursive: true }).catch(() => []);
      expect(stored.filter((f) => String(f).endsWith(".tar.gz"))).toEqual([]);
    } finally {
      configureFailpoints(undefined);
    }
  });
});
