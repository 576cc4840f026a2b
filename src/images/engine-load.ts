import type { Readable } from "node:stream";
import tar from "tar-stream";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import type { LayerDescriptor } from "./oci.js";

/** A layer the engine may not have yet, with how to read its blob. */
export interface LoadLayer extends LayerDescriptor {
  open(): Promise<Readable>;
}

/**
 * Loads an image into the engine without a registry: a tar in `docker save`'s format
 * (manifest.json, the config, `<hex>/layer.tar` per layer), streamed to the engine as it is
 * written. Only `added` layers (the launch layer and the slug, on top of the run image) are in
 * it: the base's layers are the run image's own, which this engine has (its images were made
 * here), and the engine's loader skips a layer whose chain it has. Blobs go in as they are
 * stored (the slug gzipped): the loader reads gzip as well as plain tar.
 */
export async function loadIntoEngine(
  runtime: ContainerRuntime,
  image: { config: Buffer; configDigest: string; diffIds: readonly string[]; added: readonly LoadLayer[]; tags: readonly string[] },
): Promise<void> {
  const hex = (d: string): string => d.replace(/^sha256:/, "");
  const manifest = [{ Config: `${hex(image.configDigest)}.json`, RepoTags: [...image.tags], Layers: image.diffIds.map((d) => `${hex(d)}/layer.tar`) }];
  const pack = tar.pack();
  const write = async (): Promise<void> => {
    const entry = (name: string, size: number, body: Buffer): Promise<void> =>
      new Promise((resolve, reject) => {
        pack.entry({ name, size, mode: 0o644, mtime: new Date(0) }, body, (err) => (err ? reject(err) : resolve()));
      });
    await entry(`${hex(image.configDigest)}.json`, image.config.length, image.config);
    for (const layer of image.added) {
      const body = await layer.open();
      await new Promise<void>((resolve, reject) => {
        const sink = pack.entry({ name: `${hex(layer.diffId)}/layer.tar`, size: layer.size, mode: 0o644, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
        body.on("error", (err) => {
          sink.destroy(err);
          reject(err);
        });
        body.pipe(sink as unknown as NodeJS.WritableStream);
      });
    }
    const m = Buffer.from(JSON.stringify(manifest));
    await entry("manifest.json", m.length, m);
    pack.finalize();
  };
  write().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  await runtime.loadImage(pack as unknown as Readable);
}
