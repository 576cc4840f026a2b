import type { Logger } from "../log.js";
import type { MetadataStore, MetadataTx } from "../store/types.js";
import type { WebhookEvents } from "../webhooks/index.js";
import type { BuildRecorder, BuildRequest, BuildResult, Recorded } from "./types.js";

export interface StoreRecorderOptions {
  readonly stack: string;
  readonly log: Logger;
  /** Told of each finished build and each release, in the transaction that keeps them (the app's webhooks). */
  readonly events?: WebhookEvents;
  /** This node's id (SLUGFORGE_NODE_ID), kept on each build it runs. */
  readonly node?: string;
}

/**
 * Keeps builds in the metadata store: the record and its status, the output as it streams (so
 * `builds:output` can follow a running build), and for a succeeded build its slug and release vN.
 * The push and the release go into the app's activity under who pushed; the finished build and the
 * release are queued for the app's webhooks with them.
 */
export function createStoreRecorder(store: MetadataStore, options: StoreRecorderOptions): BuildRecorder {
  // Each build's records are written one after another, in the order they were told: output chunks
  // are numbered as they were written, and the result is kept after the output before it.
  const turns = new Map<string, Promise<unknown>>();
  const inTurn = <T>(buildId: string, step: () => Promise<T>): Promise<T> => {
    const done = (turns.get(buildId) ?? Promise.resolve()).then(step);
    const settled = done.catch(() => undefined);
    turns.set(buildId, settled);
    void settled.then(() => turns.get(buildId) === settled && turns.delete(buildId));
    return done;
  };
  return {
    queued(buildId, request) {
      return inTurn(buildId, async () => {
        await store.ensureApp(request.app);
        const branch = request.ref.replace(/^refs\/heads\//, "");
        await store.recordActivity({ app: request.app, actor: actorOf(request), action: "push", detail: `${request.commit.slice(0, 7)} to ${branch}: build ${buildId}` }, (tx) =>
          tx.createBuild({ id: buildId, app: request.app, commit: request.commit, actor: request.actor, node: options.node }),
        );
      });
    },
    started(buildId) {
      return inTurn(buildId, async () => void (await store.updateBuild(buildId, { status: "building" })));
    },
    output(buildId, chunk) {
      return inTurn(buildId, () => store.appendBuildOutput(buildId, chunk));
    },
    finished(request, result) {
      // All or nothing: a build is never "succeeded" without its slug and release.
      return inTurn(result.buildId, () => store.transaction((tx) => keepResult(tx, request, result)));
    },
  };

  async function keepResult(tx: MetadataTx, request: BuildRequest, result: BuildResult): Promise<Recorded> {
    // A build whose "queued" record could not be written (a full disk) is recorded now.
    if (!(await tx.getBuild(result.buildId))) {
      await tx.ensureApp(request.app);
      await tx.createBuild({ id: result.buildId, app: request.app, commit: request.commit, actor: request.actor, node: options.node });
    }
    const slugId = result.slug?.id ?? null;
    const build = await tx.updateBuild(result.buildId, {
      status: result.status,
      errorCode: result.error?.code ?? null,
      errorMessage: result.error?.message ?? null,
      buildpacks: result.buildpacks ?? [],
      phases: result.phases ?? [],
      slugId,
      inputsKey: result.inputsKey ?? null,
    });
    // A dry run keeps its record (and its slug in the store), never a slug record or a release.
    if (result.status !== "succeeded" || !result.slug || !slugId || result.dryRun) {
      await options.events?.buildFinished(tx, build, { dryRun: result.dryRun ?? false });
      return { lines: [] };
    }
    const processTypes = result.processTypes ?? {};
    await tx.putSlug({
      id: slugId,
      app: request.app,
      sizeBytes: result.slug.sizeBytes,
      commit: request.commit,
      buildpacks: result.buildpacks ?? [],
      stack: options.stack,
      processTypes,
      createdAt: new Date().toISOString(),
    });
    const release = await tx.recordActivity(
      { app: request.app, actor: actorOf(request), action: "release", detail: (r) => `v${r.version} from build ${result.buildId}` },
      (t: MetadataTx) => t.createDeployRelease(request.app, slugId, processTypes, `Deploy ${request.commit.slice(0, 7)}`),
    );
    await options.events?.buildFinished(tx, build, { releaseVersion: release.version });
    // Release images (issue 14, item 3): once a release has its image, pass it here as
    // `image: { name, digest }` (or queue the event where the image is made, instead of here).
    await options.events?.released(tx, release, { kind: "deploy", buildId: result.buildId });
    options.log.info({ buildId: result.buildId, app: request.app, release: release.version, slugId }, "released");
    return { lines: [`Released v${release.version}`, `Slug ${slugId}`], release: { app: request.app, version: release.version } };
  }
}

/** Every push names who made it; a build asked for some other way is put down as such. */
function actorOf(request: BuildRequest): string {
  return request.actor ?? "unknown";
}
