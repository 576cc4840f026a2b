import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { pipeline, Transform, type Readable } from "node:stream";
import { SlugforgeError } from "../../errors.js";
import { formatSize } from "../../util/format-size.js";
import type { SlugStore } from "../../slug/slug-store.js";
import { LaidSlugUnusable, type LaidSlug } from "../../slug/laid-slug.js";
import { storeSlug, type SlugMemberIndex, type SlugTarMaker } from "../../slug/slug-writer.js";
import { ChangesBelow } from "../changes-below.js";
import { changedBelowTar, layerAppTar, slugFromLaid, type TarSettle } from "../laid-source.js";
import type { DiskGuard } from "../../util/disk-space.js";
import { holdStream } from "../../util/failpoints.js";
import { isRealDirBeneath } from "../../util/real-dir.js";
import { archiveFromBuild, BUILD_DIR } from "../container-exec.js";
import { appRootOf, type StepContext } from "./step.js";
import { createMarks } from "../../util/step-timer.js";

/** A slug a build made. */
export interface BuiltSlug {
  readonly sha256: string;
  readonly sizeBytes: number;
  /** The slug store's id (`sha256:<hex>`). */
  readonly id: string;
}

export interface SlugDeps {
  readonly slugStore: SlugStore;
  readonly maxSlugBytes: number;
  /** `<dataDir>/cache`: the member indexes of the last slugs live beside the caches. */
  readonly cacheDir: string;
  readonly disk?: DiskGuard;
  /**
   * The slug of the app's current release, from the metadata (shared by the nodes). With an object
   * store, a node that has not kept the app's member index itself reads that slug's, kept beside it.
   */
  readonly lastSlugId?: (app: string) => Promise<string | undefined>;
}

/**
 * /app leaves the container as a tar stream and becomes a content-addressed slug. The members of
 * the app's last slug, and of the last slug any app made, are offered for reuse, so what did not
 * change since (an interpreter, the installed packages) is copied compressed rather than
 * compressed again.
 */
export async function makeSlug(step: StepContext, deps: SlugDeps, sourceDate: Date | undefined, after?: Promise<unknown>): Promise<BuiltSlug> {
  // Where the phase's time goes, for the log.
  const { ms, mark } = createMarks();
  await deps.disk?.check("Writing the slug");
  // Said once what runs before it (bin/release, side by side) has said its part.
  const said = (after ?? Promise.resolve()).then(
    () => step.out.step("Compressing..."),
    () => undefined,
  );
  const reading = previousIndexes(step, deps);
  // /app from the layer on the host; from what was laid before the build and what changed since, where that was kept.
  const root = appRootOf(step);
  const laid = step.upperDir && root ? await laidFrom(step, step.upperDir, sourceDate, reading) : undefined;
  const app = root && !laid ? await appFromLayer(step, root) : undefined;
  mark("reader");
  const previous = (await reading).map((p) => p.index);
  mark("indexes");
  const slugStore = holdingStore(deps.slugStore, step.app, step.signal);
  const gated = (stream: Readable): Readable => marked(after ? endAfter(stream, after) : stream, () => mark("firstByte"), () => mark("read"));
  const store = (tar: Readable | SlugTarMaker): ReturnType<typeof storeSlug> =>
    storeSlug(tar, slugStore, { maxBytes: deps.maxSlugBytes, signal: step.signal, clampMtime: sourceDate, previous });
  let from = laid ? "laid" : app ? "layer" : "engine";
  let stored: Awaited<ReturnType<typeof storeSlug>>;
  if (laid) {
    try {
      stored = await store((onFile) => {
        const made = laid(onFile);
        return { ...made, tar: gated(made.tar) };
      });
    } catch (err) {
      // The laid tar is only a quicker way: a failure of its own (not the build's, not the slug's size) reads /app whole.
      if (step.signal.aborted || (err instanceof SlugforgeError && err.code !== "INTERNAL") || !root) throw err;
      if (err instanceof LaidSlugUnusable) step.log.info({ why: err.message }, "the laid tar cannot follow what the build did: the slug reads /app whole");
      else step.log.warn({ err }, "could not make the slug from the laid tar; reading /app whole");
      const whole = await appFromLayer(step, root);
      from = whole ? "layer" : "engine";
      stored = await store(gated(holdStream(whole ?? archiveFromBuild(step, BUILD_DIR), "slug-compress", step.app, step.signal)));
    }
  } else {
    stored = await store(gated(holdStream(app ?? archiveFromBuild(step, BUILD_DIR), "slug-compress", step.app, step.signal)));
  }
  mark("stored");
  await said;
  const slug: BuiltSlug = { sha256: stored.sha256, sizeBytes: stored.sizeBytes, id: stored.id };
  step.out.detail(`Done: ${formatSize(slug.sizeBytes)}`);
  step.log.info({ sha256: slug.sha256, bytes: slug.sizeBytes, id: slug.id, from, members: stored.members.length, reusedBytes: stored.reusedBytes, ms }, "slug written");
  const index = { slugId: stored.id, members: stored.members };
  // Side by side: the object store's copy, the app's and the shared one.
  await Promise.all([
    deps.slugStore.putMemberIndex?.(index).catch((err: unknown) => step.log.warn({ err }, "could not keep the slug's member index beside it in the object store")),
    ...[appIndexFile(deps, step.app), sharedIndexFile(deps)].map((file) => writeMemberIndex(file, index).catch((err: unknown) => step.log.warn({ err }, "could not keep the slug's member index"))),
  ]);
  mark("done");
  step.log.debug({ ms }, "slug phase");
  return slug;
}

/**
 * /app as a tar read by the host's GNU tar from the container's upper layer, or its mounted root
 * (layerAppTar), named as the engine's would be (`app/...`, sorted). Undefined when /app there is
 * not a real folder: the engine's view is read instead (and says what is wrong).
 */
async function appFromLayer(step: StepContext, root: string, changedAfter?: LaidSlug): Promise<Readable | undefined> {
  if (!(await isRealDirBeneath(root, BUILD_DIR.slice(1)))) return undefined;
  return layerAppTar(root, changedAfter, step.signal, settleLayerRead(step));
}

/**
 * Whether a host tar's read of the build's /app stands once it has exited. The layer is read only
 * if the container still stands: one killed or removed meanwhile (its layer going as tar read it)
 * fails the build as an exec into it would. 1: a file changed while it was read (a process the
 * build left behind); as with the engine's tar, not fatal.
 */
function settleLayerRead(step: StepContext): TarSettle {
  return async (code, stderr) => {
    if (!(await step.container.isRunning())) return new SlugforgeError("BUILD_CONTAINER_LOST", `the build container ${step.container.id.slice(0, 12)} was stopped or removed while its /app was read`);
    if (code === null || code > 1) return new SlugforgeError("INTERNAL", `reading ${BUILD_DIR} from the build container's layer failed (tar exited with ${code ?? "a signal"}): ${stderr}`);
    return undefined;
  };
}

/**
 * What the build changed in an /app laid beneath the upper layer (changes-below.ts): the upper
 * layer's /app listed, and tar's read of those names and of every folder in the mounted root.
 */
async function changedBelow(step: StepContext, upperDir: string, mergedDir: string, laid: LaidSlug): Promise<{ tar: Readable; below: ChangesBelow } | undefined> {
  if (!(await isRealDirBeneath(mergedDir, BUILD_DIR.slice(1)))) return undefined;
  const below = await ChangesBelow.read(upperDir, mergedDir);
  const names = await below.names(laid);
  step.log.debug({ upper: below.size, read: names.length }, "what the build changed beneath the laid /app, listed from the upper layer");
  return { tar: changedBelowTar(mergedDir, names, step.signal, settleLayerRead(step)), below };
}

/**
 * `stream`, whose end waits for `after`: the slug is stored only once `after` (bin/release) has
 * succeeded. When it fails, the stream fails with its error at once, and no slug is kept.
 */
function endAfter(stream: Readable, after: Promise<unknown>): Readable {
  // Object mode: a slug tar from the laid one is Buffers and LazyBytes (parallel-gzip.ts).
  const gate = new Transform({
    objectMode: true,
    transform(chunk: unknown, _enc, done) {
      done(null, chunk);
    },
    flush(done) {
      after.then(
        () => done(),
        (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
      );
    },
  });
  after.catch((err: unknown) => gate.destroy(err instanceof Error ? err : new Error(String(err))));
  // pipeline: either one failing destroys the other (the reader of /app stops with the slug).
  return pipeline(stream, gate, () => undefined);
}

/** `stream` as it is, `first` called at its first bytes and `end` at its end (a listener of its own would take bytes from the reader). */
function marked(stream: Readable, first: () => void, end: () => void): Readable {
  let seen = false;
  const pass = new Transform({
    objectMode: true,
    transform(chunk: unknown, _enc, done) {
      if (!seen) first();
      seen = true;
      done(null, chunk);
    },
    flush(done) {
      end();
      done();
    },
  });
  return pipeline(stream, pass, () => undefined);
}

/**
 * The slug tar from the tar laid beside the layer before the build (slug/laid-slug.ts) and GNU tar's
 * read of the folders and of what changed since, when one was laid and is ready now (the build does
 * not wait for it), and no laid time is clamped.
 */
async function laidFrom(step: StepContext, upperDir: string, sourceDate: Date | undefined, previous: Promise<{ app?: string; index: SlugMemberIndex }[]>): Promise<SlugTarMaker | undefined> {
  if (!step.laidSlug) return undefined;
  const laid = await Promise.race([step.laidSlug, Promise.resolve(undefined)]);
  const skip = (why: string): undefined => void step.log.debug(`the slug does not use the laid tar (${why}): /app is read whole`);
  if (!laid) return skip("it is not read yet, or could not be read");
  if (!sourceDate || laid.maxMtime * 1000 >= sourceDate.getTime()) return skip("the commit's time clamps a laid time");
  // The read of what changed is the step's longest wait: begun while the last slug's size is looked up.
  const merged = step.laidBelow?.merged;
  const reading = merged
    ? changedBelow(step, upperDir, merged, laid).catch((err: unknown) => {
        // A tree the listing cannot follow (a name not UTF-8, too many changes, /app no longer a
        // folder), or that changed as it was listed (a process the build left behind): read whole.
        if (step.signal.aborted) throw err;
        if (err instanceof LaidSlugUnusable) step.log.info({ why: err.message }, "the laid tar cannot follow what the build did: the slug reads /app whole");
        else step.log.warn({ err }, "could not list what the build changed beneath the laid /app; reading /app whole");
        return undefined;
      })
    : appFromLayer(step, upperDir, laid).then((tar) => tar && { tar, below: undefined });
  let changed: { tar: Readable; below: ChangesBelow | undefined } | undefined;
  try {
    // Worth it where the laid tar is most of the app's last slug (a large source tree), not where the
    // build makes most of /app anew (an interpreter and packages copied in from the cache).
    const last = (await previous).find((p) => p.app === step.app);
    const lastBytes = last?.index.members.reduce((n, m) => n + m.rawBytes, 0) ?? 0;
    changed = await reading;
    if (laid.bytes * 2 < lastBytes) {
      changed?.tar.destroy();
      return skip("it holds less than half of the last slug");
    }
  } catch (err) {
    void reading.then((r) => r?.tar.destroy(), () => undefined);
    throw err;
  }
  if (!changed) return undefined;
  const { tar, below } = changed;
  return (onFile) => slugFromLaid(holdStream(tar, "slug-compress", step.app, step.signal), upperDir, laid, sourceDate, onFile, below);
}

function appIndexFile(deps: SlugDeps, app: string): string {
  return path.join(deps.cacheDir, app, "slug-members.json");
}

/** The last slug written by any app: apps on one stack and language share an interpreter, whose blocks are then compressed once for all of them. */
function sharedIndexFile(deps: SlugDeps): string {
  return path.join(deps.cacheDir, ".slug-members.json");
}

/** The member indexes of the app's last slug and of the last slug any app made, where they are kept. */
async function previousIndexes(step: StepContext, deps: SlugDeps): Promise<{ app?: string; index: SlugMemberIndex }[]> {
  const [own, shared] = await Promise.all([readMemberIndex(appIndexFile(deps, step.app)).then((kept) => kept ?? storedMemberIndex(step, deps)), readMemberIndex(sharedIndexFile(deps))]);
  return [...(own ? [{ app: step.app, index: own }] : []), ...(shared ? [{ index: shared }] : [])];
}

/** The slug store, its writes held mid-stream at the "slug-store" failpoint (tests only). */
function holdingStore(store: SlugStore, app: string, signal: AbortSignal): SlugStore {
  return { ...store, put: (bytes) => store.put(holdStream(bytes, "slug-store", app, signal)) };
}

/** The member index kept beside the app's current slug in the store, if the store keeps them. */
async function storedMemberIndex(step: StepContext, deps: SlugDeps): Promise<SlugMemberIndex | undefined> {
  if (!deps.slugStore.getMemberIndex || !deps.lastSlugId) return undefined;
  try {
    const id = await deps.lastSlugId(step.app);
    return id ? await deps.slugStore.getMemberIndex(id) : undefined;
  } catch (err) {
    step.log.warn({ err }, "could not read the last slug's member index from the store; the slug is compressed whole");
    return undefined;
  }
}

async function readMemberIndex(file: string): Promise<SlugMemberIndex | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as SlugMemberIndex;
    return typeof parsed.slugId === "string" && Array.isArray(parsed.members) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

async function writeMemberIndex(file: string, index: SlugMemberIndex): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomUUID()}`;
  try {
    await writeFile(tmp, JSON.stringify(index), { mode: 0o600 });
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}
