import path from "node:path";
import type { Config } from "../config/parse-config.js";
import type { ContainerRuntime } from "../docker/container-runtime.js";
import { SlugforgeError, isSlugforgeError, toSlugforgeError } from "../errors.js";
import type { Logger } from "../log.js";
import type { SlugStore } from "../slug/slug-store.js";
import { imageRef } from "../stack/recipes.js";
import type { MetadataStore, ReleaseRecord } from "../store/types.js";
import { knownBlobs, makeReleaseImage, type MadeImage, type MakeImageDeps } from "./make-image.js";
import { createRegistryClient } from "./registry-client.js";
import { readStackBase, stackLayers, type StackBase, type StackLayer } from "./stack-layers.js";

export interface ImageServiceDeps {
  readonly store: MetadataStore;
  readonly slugs: SlugStore;
  readonly runtime: ContainerRuntime;
  readonly config: Pick<Config, "dataDir" | "stack" | "registry" | "registryTimeoutMs" | "imageWaitMs" | "imageRetryMs">;
  readonly log: Logger;
  /** Told each time a release's image is made and recorded (a deploy system's webhook may want to know). */
  readonly onImage?: (release: ReleaseRecord) => void;
}

/** How an attempt that was waited for ended. */
export type ImageAttempt =
  | { readonly state: "made"; readonly image: MadeImage }
  | { readonly state: "failed"; readonly error: SlugforgeError; readonly retryInMs?: number }
  /** Not done within the wait: it carries on in the background. */
  | { readonly state: "pending" };

/** Release images: made once per release, retried in the background until they are. */
export interface ImageService {
  /** Where images go, for messages: the registry (`host/prefix`) or `the local engine`. */
  readonly destination: string;
  /**
   * Makes release vN's image and records it; waits at most SLUGFORGE_IMAGE_WAIT (or until
   * `signal`), after which it carries on in the background. A failure is recorded with the
   * release and tried again later (unless it can never work: a slug gone from the store).
   */
  attempt(app: string, version: number, signal?: AbortSignal): Promise<ImageAttempt>;
  /**
   * At start: queues what a stopped server left undone (failed images, each app's newest release
   * without one) and, with a registry, prepares the stack's layers for it in the background, so
   * the first push after a new stack does not wait for them.
   */
  resume(): Promise<number>;
  /** Resolves once no image is being made (tests; shutdown). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const MAX_RETRY_MS = 10 * 60_000;

export function createImageService(deps: ImageServiceDeps): ImageService {
  const { store, config, log } = deps;
  const cacheDir = path.join(config.dataDir, "images");
  const closing = new AbortController();
  const registry = config.registry
    ? {
        setting: config.registry,
        client: createRegistryClient(config.registry, { timeoutMs: config.registryTimeoutMs, signal: closing.signal }),
        known: knownBlobs(cacheDir, config.registry),
      }
    : undefined;
  const exports = new Map<string, Promise<StackLayer[]>>();
  const makeDeps: MakeImageDeps = {
    runtime: deps.runtime,
    slugs: deps.slugs,
    cacheDir,
    registry,
    // One export per run image at a time: concurrent releases wait for the same one.
    stackLayers: (base: StackBase) => {
      let p = exports.get(base.imageId);
      if (!p) {
        p = stackLayers(deps.runtime, base, cacheDir, closing.signal).finally(() => exports.delete(base.imageId));
        exports.set(base.imageId, p);
      }
      return p;
    },
  };
  const running = new Map<string, Promise<MadeImage>>();
  /** Per app, the tail of its images being made: one at a time, in order, so `latest` ends on the newest. */
  const chains = new Map<string, Promise<unknown>>();
  /** Images waiting to be tried again: when (`inMs` after the last failure) and the wait after the next one. */
  const retries = new Map<string, { timer?: NodeJS.Timeout; inMs: number; nextMs: number }>();
  const key = (app: string, version: number): string => `${app}/v${version}`;

  const makeNow = async (app: string, version: number): Promise<MadeImage> => {
    const release = await store.getRelease(app, version);
    if (!release) throw new SlugforgeError("NOT_FOUND", `${app} has no release v${version}`, { data: { permanent: true } });
    if (!release.slugId) throw new SlugforgeError("BAD_REQUEST", `${app} v${version} has no slug, so no image`, { data: { permanent: true } });
    const slug = (await store.getSlug(release.slugId, app)) ?? (await store.getSlug(release.slugId));
    if (!slug) throw new SlugforgeError("NOT_FOUND", `the slug ${release.slugId} of ${app} v${version} has no record`, { data: { permanent: true } });
    const releases = await store.listReleases(app);
    const made = await makeReleaseImage(makeDeps, { release, slug, firstRelease: firstWithSameContent(releases, release), latest: releases[0]?.version === version });
    const recorded = await store.setReleaseImage(app, version, { image: { name: made.name, digest: made.digest } });
    if (recorded) {
      try {
        deps.onImage?.(recorded);
      } catch (err) {
        log.warn({ err, app, release: version }, "a listener of release images failed");
      }
    }
    log.info({ app, release: version, image: made.name, digest: made.digest, sent: made.sent }, "release image made");
    return made;
  };

  /** The one job making vN's image (a second caller joins it); on failure the next try is scheduled. */
  const start = (app: string, version: number): Promise<MadeImage> => {
    const k = key(app, version);
    const already = running.get(k);
    if (already) return already;
    clearTimeout(retries.get(k)?.timer);
    const job = (chains.get(app) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => makeNow(app, version))
      .then(
        (made) => {
          retries.delete(k);
          return made;
        },
        async (err: unknown) => {
          const error = asImageError(err);
          try {
            await store.setReleaseImage(app, version, { error: error.message });
          } catch (recordErr) {
            log.warn({ err: recordErr, app, release: version }, "could not record why a release image failed");
          }
          if (closing.signal.aborted) throw error;
          if (error.data.permanent) {
            retries.delete(k);
            log.warn({ app, release: version, err: error }, "release image cannot be made");
          } else {
            const delayMs = retries.get(k)?.nextMs ?? config.imageRetryMs;
            retries.set(k, { inMs: delayMs, nextMs: Math.min(delayMs * 2, MAX_RETRY_MS), timer: retryLater(app, version, delayMs) });
            log.warn({ app, release: version, err: error, retryInMs: delayMs }, "release image failed; it is retried");
          }
          throw error;
        },
      )
      .finally(() => running.delete(k));
    job.catch(() => undefined);
    running.set(k, job);
    chains.set(app, job);
    return job;
  };

  const retryLater = (app: string, version: number, delayMs: number): NodeJS.Timeout => {
    const timer = setTimeout(() => void start(app, version).catch(() => undefined), delayMs);
    timer.unref();
    return timer;
  };

  return {
    destination: registry ? [registry.setting.host, registry.setting.prefix].filter(Boolean).join("/") : "the local engine",
    async attempt(app, version, signal) {
      const job = start(app, version);
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const waited = new Promise<ImageAttempt>((resolve) => {
        timer = setTimeout(() => resolve({ state: "pending" }), config.imageWaitMs);
        onAbort = () => resolve({ state: "pending" });
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      try {
        return await Promise.race([
          job.then(
            (image): ImageAttempt => ({ state: "made", image }),
            (err: unknown): ImageAttempt => {
              const error = asImageError(err);
              return { state: "failed", error, retryInMs: retries.get(key(app, version))?.inMs };
            },
          ),
          waited,
        ]);
      } finally {
        clearTimeout(timer);
        if (onAbort) signal?.removeEventListener("abort", onAbort);
      }
    },
    async resume() {
      const queued = new Map<string, ReleaseRecord>();
      for (const r of await store.listReleasesAwaitingImage()) queued.set(key(r.app, r.version), r);
      for (const app of await store.listApps()) {
        const newest = (await store.listReleases(app.name))[0];
        if (newest && newest.slugId && !newest.image) queued.set(key(newest.app, newest.version), newest);
      }
      for (const r of queued.values()) {
        const k = key(r.app, r.version);
        if (retries.has(k) || running.has(k)) continue;
        const inMs = Math.min(config.imageRetryMs, 5000);
        retries.set(k, { inMs, nextMs: config.imageRetryMs, timer: retryLater(r.app, r.version, inMs) });
      }
      if (queued.size) log.info({ images: queued.size }, "release images left undone are made in the background");
      if (registry) {
        readStackBase(deps.runtime, imageRef(config.stack, "run"))
          .then((base) => makeDeps.stackLayers(base))
          .catch((err: unknown) => log.warn({ err }, "could not prepare the stack's layers for the registry (the first image will)"));
      }
      return queued.size;
    },
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running.values()]);
    },
    async close() {
      for (const r of retries.values()) clearTimeout(r.timer);
      retries.clear();
      closing.abort(new SlugforgeError("REGISTRY_UNAVAILABLE", "the server is stopping; the image is made after its next start"));
      await Promise.allSettled([...running.values(), ...exports.values()]);
    },
  };
}

/**
 * The first release of the app with this slug and these process types. A config change or a
 * rollback makes a release with the same slug: its image is the same image (the release label
 * names the first), tagged with its own vN.
 */
function firstWithSameContent(releases: readonly ReleaseRecord[], release: ReleaseRecord): number {
  const content = (r: ReleaseRecord): string => `${r.slugId} ${JSON.stringify(Object.entries(r.processTypes).sort(([a], [b]) => a.localeCompare(b)))}`;
  const same = releases.filter((r) => content(r) === content(release)).map((r) => r.version);
  return Math.min(release.version, ...same);
}

/** The engine's and the registry's errors are kept as they are; a surprise is INTERNAL. */
function asImageError(err: unknown): SlugforgeError {
  if (isSlugforgeError(err)) return err;
  if (err instanceof Error && err.name === "AbortError") return new SlugforgeError("REGISTRY_UNAVAILABLE", "the attempt was stopped (the server is stopping)", { cause: err });
  return toSlugforgeError(err);
}
