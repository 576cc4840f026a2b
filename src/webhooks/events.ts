import { isDiskFull } from "../errors.js";
import type { Logger } from "../log.js";
import type { BuildRecord, MetadataTx, ReleaseRecord } from "../store/types.js";
import type { WebhookEvent } from "../store/webhook-types.js";
import { buildPayload, releasePayload, type ReleaseFacts } from "./payloads.js";

/** What telling an event needs of the store: the transaction that made what it tells of, or the store itself. */
export type EventStore = Pick<MetadataTx, "getSlug" | "queueDeliveries" | "transaction">;

/**
 * Where releases and finished builds are told, to be sent to the app's webhooks. Each call queues
 * the deliveries through `store` and returns: given the transaction that made the release or kept
 * the build, the event exists exactly when what it tells of does, and a push never waits for a
 * receiver.
 */
export interface WebhookEvents {
  /** A new release: a push's deploy, a config change, a rollback. */
  released(store: EventStore, release: ReleaseRecord, facts: Omit<ReleaseFacts, "commit">): Promise<void>;
  /** A build that finished, whatever its status. */
  buildFinished(store: EventStore, build: BuildRecord, facts?: { readonly releaseVersion?: number | null; readonly dryRun?: boolean }): Promise<void>;
}

export interface WebhookEventsDeps {
  readonly log: Logger;
  /** Told when deliveries were queued (the worker sends them at once instead of at its next look). */
  readonly onQueued?: () => void;
}

export function createWebhookEvents(deps: WebhookEventsDeps): WebhookEvents {
  const log = deps.log.child({ component: "webhooks" });
  const queue = async (store: EventStore, app: string, event: WebhookEvent, payload: unknown): Promise<void> => {
    try {
      // Its own savepoint: a fault here undoes only the deliveries, never the release.
      const ids = await store.transaction((tx) => tx.queueDeliveries(app, event, JSON.stringify(payload)));
      if (ids.length > 0) deps.onQueued?.();
    } catch (err) {
      // A full disk fails what the event tells of as it would have anyway; anything else is ours,
      // and a webhook bug must not refuse a release.
      if (isDiskFull(err)) throw err;
      log.error({ err, app, event }, "could not queue webhook deliveries");
    }
  };
  return {
    async released(store, release, facts) {
      const commit = release.slugId ? ((await store.getSlug(release.slugId, release.app))?.commit ?? null) : null;
      // The image, once the release has one (release images wait for it before telling: main.ts).
      const image = facts.image ?? release.image ?? null;
      await queue(store, release.app, "release", releasePayload(release, { ...facts, commit, image }));
    },
    buildFinished(store, build, facts) {
      return queue(store, build.app, "build", buildPayload(build, facts));
    },
  };
}
