import { readFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import type { RegistrySetting } from "../config/parse-config.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { SlugforgeError } from "../errors.js";
import type { SlugStore } from "../slug/slug-store.js";
import { imageRef } from "../stack/recipes.js";
import type { ReleaseImage, ReleaseRecord, SlugRecord } from "../store/types.js";
import { loadIntoEngine } from "./engine-load.js";
import { releaseImageConfig } from "./image-config.js";
import { makeLaunchLayer } from "./launch-layer.js";
import { MEDIA_TYPES, sha256Digest, writeImageManifest, type LayerDescriptor } from "./oci.js";
import type { RegistryClient } from "./registry-client.js";
import { slugLayer } from "./slug-layer.js";
import { openStackLayer, readStackBase, writeAtomically, type StackBase, type StackLayer } from "./stack-layers.js";

export interface MakeImageDeps {
  readonly runtime: ContainerRuntime;
  readonly slugs: SlugStore;
  /** `<data>/images`: stack blobs, slug diff ids, what each registry has where. */
  readonly cacheDir: string;
  readonly registry?: { readonly setting: RegistrySetting; readonly client: RegistryClient; readonly known: KnownBlobs };
  /** The run image's layers as gzip blobs (made once per image id; shared by concurrent callers). */
  readonly stackLayers: (base: StackBase) => Promise<StackLayer[]>;
}

/** What is known of the release when its image is made. */
export interface ImageRequest {
  readonly release: ReleaseRecord;
  readonly slug: SlugRecord;
  readonly firstRelease: number;
  /** Whether `latest` moves to this image: the release is the app's newest. */
  readonly latest: boolean;
}

export interface MadeImage extends ReleaseImage {
  /** Blobs the registry was sent, and their bytes; blobs it had (or mounted) are not counted. */
  readonly sent: { readonly blobs: number; readonly bytes: number; readonly had: number };
  readonly loaded: boolean;
  readonly web: boolean;
}

/**
 * Makes a release's image: the run image's layers, a launch layer (launcher and process types),
 * the slug file itself as the top layer, a config and a manifest, written here without a
 * Dockerfile or the engine's build. With a registry, each blob it lacks is sent (HEAD first; a
 * blob another repository of the registry has is mounted, not sent), then the manifest under
 * `vN` (and `latest`). Without one, the image is loaded into the engine as `slugforge/app-<app>:vN`.
 */
export async function makeReleaseImage(deps: MakeImageDeps, request: ImageRequest): Promise<MadeImage> {
  const { release, slug } = request;
  // A registry that does not answer fails the attempt before the stack's layers are exported for it.
  await deps.registry?.client.ping();
  const base = await readStackBase(deps.runtime, imageRef(slug.stack, "run"));
  const [launch, slugL] = await Promise.all([makeLaunchLayer(release.processTypes), slugLayer(deps.slugs, slug.id, deps.cacheDir)]);
  const config = releaseImageConfig({ app: release.app, firstRelease: request.firstRelease, slug, processTypes: release.processTypes, base, launch, slugLayer: slugL });
  const configDigest = sha256Digest(config);
  const web = Object.hasOwn(release.processTypes, "web");
  const tag = `v${release.version}`;
  const openSlug = async (): Promise<Readable> => {
    const stream = await deps.slugs.get(slug.id);
    if (!stream) throw new SlugforgeError("NOT_FOUND", `slug ${slug.id} left the slug store`, { data: { permanent: true } });
    return stream;
  };

  if (!deps.registry) {
    const name = engineImageName(release.app);
    await loadIntoEngine(deps.runtime, {
      config,
      configDigest,
      diffIds: [...base.diffIds, launch.diffId, slugL.diffId],
      added: [
        { ...launch, open: async () => Readable.from([launch.bytes]) },
        { ...slugL, open: openSlug },
      ],
      tags: [`${name}:${tag}`, ...(request.latest ? [`${name}:latest`] : [])],
    });
    return { name: `${name}:${tag}`, digest: configDigest, sent: { blobs: 0, bytes: 0, had: 0 }, loaded: true, web };
  }

  const { setting, client, known } = deps.registry;
  const repository = [setting.prefix, release.app].filter(Boolean).join("/");
  const stack = await deps.stackLayers(base);
  const blobs: (LayerDescriptor & { open(): Promise<Readable> | Readable })[] = [
    ...stack.map((l) => ({ ...l, open: () => openStackLayer(l) })),
    { ...launch, open: () => Readable.from([launch.bytes]) },
    { ...slugL, open: openSlug },
  ];
  const sent = { blobs: 0, bytes: 0, had: 0 };
  for (const blob of [...blobs, { digest: configDigest, size: config.length, open: () => Readable.from([config]) }]) {
    const from = await known.get(blob.digest);
    const outcome = await client.pushBlob(repository, blob, from && from !== repository ? from : undefined);
    if (outcome === "uploaded") {
      sent.blobs++;
      sent.bytes += blob.size;
    } else sent.had++;
    if (blob.digest !== configDigest) await known.add(blob.digest, repository);
  }
  const configDescriptor = { mediaType: MEDIA_TYPES.config, digest: configDigest, size: config.length };
  const manifest = writeImageManifest(configDescriptor, blobs);
  const digest = sha256Digest(manifest);
  await client.putManifest(repository, tag, MEDIA_TYPES.manifest, manifest);
  if (request.latest) await client.putManifest(repository, "latest", MEDIA_TYPES.manifest, manifest);
  return { name: `${setting.host}/${repository}:${tag}`, digest, sent, loaded: false, web };
}

/** An app's images in the engine when there is no registry (DESIGN: `slugforge/app-<app>:vN`). */
export function engineImageName(app: string): string {
  return `slugforge/app-${app}`;
}

export interface KnownBlobs {
  get(digest: string): Promise<string | undefined>;
  /** Notes that `repository` has the blob (the first one noted stays). */
  add(digest: string, repository: string): Promise<void>;
}

/**
 * Which repository of a registry has each blob slugforge sent there, kept in the data folder
 * (`registries/<host>.json`), so that a new app's repository mounts the stack's layers (and a
 * shared slug) instead of being sent them again. A stale entry costs nothing: the registry then
 * opens an upload instead.
 */
export function knownBlobs(cacheDir: string, setting: RegistrySetting): KnownBlobs {
  const file = path.join(cacheDir, "registries", `${setting.host.replace(/[^A-Za-z0-9.-]/g, "_")}.json`);
  let map: Promise<Record<string, string>> | undefined;
  let saving: Promise<void> = Promise.resolve();
  const load = (): Promise<Record<string, string>> =>
    (map ??= readFile(file, "utf8").then((t) => JSON.parse(t) as Record<string, string>, () => ({}) as Record<string, string>));
  return {
    get: async (digest) => (await load())[digest],
    async add(digest, repository) {
      const m = await load();
      if (m[digest]) return;
      m[digest] = repository;
      // One write at a time, each of the whole map as it is then.
      saving = saving.then(() => writeAtomically(file, JSON.stringify(m))).catch(() => undefined);
      await saving;
    },
  };
}
