/**
 * What a webhook can subscribe to: `release` (every new release: a deploy, a config change, a
 * rollback) and `build` (every finished build). Typed as a record so an event added to the type
 * must be added here too; a webhook made without a list gets all of them.
 */
const EVENTS: Readonly<Record<"release" | "build", true>> = { release: true, build: true };
export type WebhookEvent = keyof typeof EVENTS;
export const WEBHOOK_EVENTS = Object.keys(EVENTS) as WebhookEvent[];

export function isWebhookEvent(value: unknown): value is WebhookEvent {
  return typeof value === "string" && Object.hasOwn(EVENTS, value);
}

/** A webhook as the API shows it: never its secret. */
export interface WebhookRecord {
  readonly id: string;
  readonly app: string;
  readonly url: string;
  readonly events: readonly WebhookEvent[];
  readonly createdAt: string;
}

/** `pending`: to be sent (again) at `nextTryAt`; `delivered`: a 2xx came back; `failed`: the last try failed too. */
export type DeliveryState = "pending" | "delivered" | "failed";

/** One POST of a delivery and what came of it. */
export interface DeliveryAttempt {
  /** 1 for the first try. */
  readonly n: number;
  readonly at: string;
  /** The receiver's HTTP status; null when none came (timeout, refused, reset, not HTTP). */
  readonly statusCode: number | null;
  readonly durationMs: number;
  /** Why the attempt failed; null for a 2xx. */
  readonly error: string | null;
}

/** One event for one webhook, with every attempt to send it. */
export interface DeliveryRecord {
  readonly id: string;
  readonly webhookId: string;
  readonly app: string;
  readonly event: WebhookEvent;
  /** The JSON body, as sent (the same bytes on every attempt). */
  readonly payload: unknown;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly lastStatusCode: number | null;
  readonly lastDurationMs: number | null;
  readonly lastError: string | null;
  /** When it is sent next: null once delivered or failed. */
  readonly nextTryAt: string | null;
  readonly createdAt: string;
  readonly attemptLog: readonly DeliveryAttempt[];
}

/** A delivery taken for sending: what one POST needs. */
export interface DueDelivery {
  readonly id: string;
  readonly webhookId: string;
  readonly app: string;
  readonly event: WebhookEvent;
  readonly url: string;
  readonly secret: string;
  readonly body: string;
  /** Attempts made before this one. */
  readonly attempts: number;
}

/** What an attempt leaves the delivery as. */
export type DeliveryOutcome = { readonly state: "delivered" | "failed" } | { readonly state: "pending"; readonly nextTryAt: string };

/** Webhooks and their deliveries (the SQLite store's part in sqlite-webhooks.ts). */
export interface WebhookStore {
  createWebhook(webhook: { id: string; app: string; url: string; secret: string; events: readonly WebhookEvent[] }): Promise<WebhookRecord>;
  /** The app's webhooks, oldest first. */
  listWebhooks(app: string): Promise<WebhookRecord[]>;
  /** Deletes the app's webhook with its deliveries (pending ones included); undefined when the app has none with that id. */
  deleteWebhook(app: string, id: string): Promise<WebhookRecord | undefined>;
  /**
   * Queues `body` for every webhook of the app that subscribes to `event`, due now; returns the
   * deliveries' ids. Call it in the transaction that made what the event tells of.
   */
  queueDeliveries(app: string, event: WebhookEvent, body: string): Promise<string[]>;
  /**
   * Takes up to `limit` pending deliveries due at `now` (ISO time), oldest due first, and moves
   * their next try to `leaseUntil`: a process that dies while sending leaves them to be sent again
   * then, and another process sharing the database does not send them meanwhile.
   */
  claimDueDeliveries(now: string, leaseUntil: string, limit: number): Promise<DueDelivery[]>;
  /** Records an attempt and what the delivery becomes; does nothing when the delivery is gone (its webhook or app was deleted). */
  recordDeliveryAttempt(id: string, attempt: Omit<DeliveryAttempt, "n">, outcome: DeliveryOutcome): Promise<void>;
  /** The app's deliveries (of one webhook), newest first, with their attempts. */
  listDeliveries(app: string, options?: { webhookId?: string; limit?: number }): Promise<DeliveryRecord[]>;
}
