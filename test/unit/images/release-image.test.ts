import { Readable } from "node:stream";
import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { releaseImageConfig, type ImageContent } from "../../../src/images/image-config.js";
import { makeLaunchLayer } from "../../../src/images/launch-layer.js";
import { sha256Digest, writeImageManifest, MEDIA_TYPES } from "../../../src/images/oci.js";

const content = async (overrides: Partial<ImageContent> = {}, processTypes: Record<string, string> = { web: "perl server.pl", worker: "echo hi" }): Promise<ImageContent> => ({
  app: "shop",
  firstRelease: 2,
  slug: { id: `sha256:${"a".repeat(64)}`, app: "shop", sizeBytes: 10, commit: "c".repeat(40), buildpacks: ["python@1234"], stack: "debian-13", processTypes, createdAt: "2026-01-02T03:04:05.000Z" },
  processTypes,
  base: { ref: "slugforge/stack:debian-13-run", imageId: `sha256:${"b".repeat(64)}`, created: "2026-01-01T00:00:00.000Z", os: "linux", architecture: "amd64", env: [], diffIds: [`sha256:${"d".repeat(64)}`] },
  launch: await makeLaunchLayer(processTypes),
  slugLayer: { mediaType: MEDIA_TYPES.layerGzip, digest: `sha256:${"a".repeat(64)}`, size: 10, diffId: `sha256:${"e".repeat(64)}` },
  ...overrides,
});

async function entries(bytes: Buffer): Promise<Record<string, { mode: number; uid: number; body: string }>> {
  const found: Record<string, { mode: number; uid: number; body: string }> = {};
  const extract = tar.extract();
  extract.on("entry", (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on("data", (c) => void chunks.push(c as Buffer));
    body.on("end", () => {
      found[header.name] = { mode: header.mode ?? 0, uid: header.uid ?? -1, body: Buffer.concat(chunks).toString() };
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    extract.on("finish", resolve);
    extract.on("error", reject);
    Readable.from([bytes]).pipe(extract as unknown as NodeJS.WritableStream);
  });
  return found;
}

describe("release image", () => {
  it("the launch layer: the launcher and one file per process type, root's, the same bytes every time", async () => {
    const layer = await makeLaunchLayer({ worker: "echo hi", web: "perl server.pl", "bad name": "x" });
    expect(layer.digest).toBe(sha256Digest(layer.bytes));
    expect(layer.diffId).toBe(layer.digest);
    expect(layer.mediaType).toBe(MEDIA_TYPES.layerTar);
    expect((await makeLaunchLayer({ web: "perl server.pl", worker: "echo hi" })).digest).toBe(layer.digest);
    expect((await makeLaunchLayer({ web: "perl server.pl" })).digest).not.toBe(layer.digest);
    const files = await entries(layer.bytes);
    expect(Object.keys(files)).toEqual(["etc/slugforge/", "etc/slugforge/process-types/", "etc/slugforge/process-types/web", "etc/slugforge/process-types/worker", "usr/local/bin/slugforge-launch"]);
    expect(files["etc/slugforge/process-types/web"]).toMatchObject({ body: "perl server.pl\n", mode: 0o644, uid: 0 });
    expect(files["usr/local/bin/slugforge-launch"]).toMatchObject({ mode: 0o755, uid: 0 });
    expect(files["usr/local/bin/slugforge-launch"]!.body).toMatch(/^#!\/usr\/bin\/env bash\n/);
  });

  it("the config: the same content gives the same bytes; a non-root user, the launcher, web by default; no config vars", async () => {
    const a = releaseImageConfig(await content());
    expect(releaseImageConfig(await content())).toEqual(a);
    const config = JSON.parse(a.toString()) as {
      created: string;
      config: { User: string; Entrypoint: string[]; Cmd?: string[]; WorkingDir: string; Env: string[]; ExposedPorts?: object; Labels: Record<string, string> };
      rootfs: { diff_ids: string[] };
      history: unknown[];
    };
    expect(config.created).toBe("2026-01-02T03:04:05.000Z");
    expect(config.config).toMatchObject({ User: "1000:1000", Entrypoint: ["/usr/local/bin/slugforge-launch"], Cmd: ["web"], WorkingDir: "/app", ExposedPorts: { "5000/tcp": {} } });
    expect(config.config.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "STACK=debian-13"]);
    expect(config.config.Labels).toMatchObject({
      "org.slugforge.app": "shop",
      "org.slugforge.release": "v2",
      "org.slugforge.commit": "c".repeat(40),
      "org.slugforge.slug": `sha256:${"a".repeat(64)}`,
      "org.slugforge.stack-image": `sha256:${"b".repeat(64)}`,
      "org.slugforge.buildpacks": '["python@1234"]',
      "org.slugforge.process-types": '{"web":"perl server.pl","worker":"echo hi"}',
    });
    expect(config.rootfs.diff_ids).toHaveLength(3);
    expect(config.history).toHaveLength(3);
    // Without a web process, `docker run IMAGE` prints the process types instead of guessing.
    const worker = JSON.parse(releaseImageConfig(await content({}, { worker: "echo hi" })).toString()) as { config: { Cmd?: string[]; ExposedPorts?: object } };
    expect(worker.config.Cmd).toBeUndefined();
    expect(worker.config.ExposedPorts).toBeUndefined();
  });

  it("the manifest names the config and layers in order", () => {
    const m = JSON.parse(writeImageManifest({ mediaType: MEDIA_TYPES.config, digest: "sha256:c", size: 1 }, [{ mediaType: MEDIA_TYPES.layerGzip, digest: "sha256:l", size: 2 }]).toString()) as object;
    expect(m).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.manifest,
      config: { mediaType: MEDIA_TYPES.config, digest: "sha256:c", size: 1 },
      layers: [{ mediaType: MEDIA_TYPES.layerGzip, digest: "sha256:l", size: 2 }],
    });
  });
});
