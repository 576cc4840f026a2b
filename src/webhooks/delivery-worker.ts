import type { Logger } from "../log.js";
import type { DeliveryOutcome, DueDelivery, WebhookStore } from "../store/webhook-types.js";
import { DEFAULT_DELIVERY_TIMEOUT_MS, DEFAULT_RETRY_DELAYS_MS, nextTryAt } from "./retry-schedule.js";
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signBody } from "./signature.js";
import { parseWebhookUrl } from "./webhook-url.js";

/** The worker's timing; tests shorten it to milliseconds. */
export interface DeliverySettings {
  /** Waits after each failed attempt; one more try than there are delays. */
  readonly retryDelaysMs?: readonly number[];
  /** Each attempt's limit (connect, send, the response's headers). */
  readonly timeoutMs?: number;
  /** How often the store is asked for due deliveries (new ones are sent at once anyway). */
  readonly pollMs?: number;
  /** Deliveries sent at once. */
  readonly concurrency?: number;
}

export interface DeliveryWorkerDeps extends DeliverySettings {
  readonly store: Pick<WebhookStore, "claimDueDeliveries" | "recordDeliveryAttempt">;
  readonly log: Logger;
}

export interface DeliveryWorker {
  /** Starts looking for due deliveries, those a previous process left pending included. */
  start(): void;
  /** Looks now (deliveries were just queued). */
  wake(): void;
  /** Stops: aborts attempts in flight (not recorded: they are sent again once their lease ends) and waits for them. */
  close(): Promise<void>;
}

/** Time a claimed delivery is held past its attempt's limit before another look may take it again. */
const LEASE_MARGIN_MS = 5_000;
const MAX_ERROR_LENGTH = 500;

/**
 * Sends queued deliveries: POSTs each with its signature, records every attempt (status, time,
 * error), tries again after the schedule's delays and gives up after the last. Nothing a receiver
 * does (hang, reset, garbage, redirect) or a full disk escapes it: attempts end in a record or a
 * log line, never in a throw.
 */
export function createDeliveryWorker(deps: DeliveryWorkerDeps): DeliveryWorker {
  const log = deps.log.child({ component: "webhooks" });
  const delays = deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS;
  const pollMs = deps.pollMs ?? 1_000;
  const concurrency = deps.concurrency ?? 4;
  const stop = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let woken = false;

  /** One look at a time (the poll and a wake may meet): a look asked for meanwhile runs after it. */
  let looking: Promise<void> | undefined;
  let lookAgain = false;
  const look = (): void => {
    woken = false;
    if (looking) {
      lookAgain = true;
      return;
    }
    looking = lookOnce().finally(() => {
      looking = undefined;
      if (lookAgain) {
        lookAgain = false;
        look();
      }
    });
  };
  const lookOnce = async (): Promise<void> => {
    if (stop.signal.aborted) return;
    const free = concurrency - inFlight.size;
    if (free <= 0) return;
    let due: DueDelivery[];
    try {
      const now = Date.now();
      due = await deps.store.claimDueDeliveries(new Date(now).toISOString(), new Date(now + timeoutMs + LEASE_MARGIN_MS).toISOString(), free);
    } catch (err) {
      // A full disk, a locked database: the next look tries again.
      log.error({ err }, "could not take due webhook deliveries");
      return;
    }
    for (const delivery of due) {
      const sending: Promise<void> = send(delivery).finally(() => {
        inFlight.delete(sending);
        wake();
      });
      inFlight.add(sending);
    }
  };
  const wake = (): void => {
    if (woken || stop.signal.aborted) return;
    woken = true;
    setImmediate(look);
  };

  async function send(delivery: DueDelivery): Promise<void> {
    const started = Date.now();
    const at = new Date(started).toISOString();
    const { statusCode, error, final } = await post(delivery);
    if (stop.signal.aborted && statusCode === null) return;
    const attempt = delivery.attempts + 1;
    const durationMs = Date.now() - started;
    const retryAt = error === null || final ? undefined : nextTryAt(attempt, Date.now(), delays);
    const outcome: DeliveryOutcome =
      error === null ? { state: "delivered" } : retryAt === undefined ? { state: "failed" } : { state: "pending", nextTryAt: new Date(retryAt).toISOString() };
    const fields = { delivery: delivery.id, webhook: delivery.webhookId, app: delivery.app, event: delivery.event, attempt, statusCode, durationMs };
    if (outcome.state === "failed") log.warn({ ...fields, error }, "webhook delivery failed for good");
    else if (error !== null) log.info({ ...fields, error, nextTryAt: outcome.state === "pending" ? outcome.nextTryAt : null }, "webhook delivery attempt failed");
    else log.debug(fields, "webhook delivered");
    try {
      await deps.store.recordDeliveryAttempt(delivery.id, { at, statusCode, durationMs, error }, outcome);
    } catch (err) {
      // Sent, but not recorded (a full disk): its lease ends and it is sent again, which a receiver
      // that dedupes on the delivery id shrugs off.
      log.error({ err, ...fields }, "could not record a webhook delivery attempt");
    }
  }

  /** One POST; never throws. `final`: trying again cannot help (the URL itself is refused). */
  async function post(delivery: DueDelivery): Promise<{ statusCode: number | null; error: string | null; final?: boolean }> {
    let url: URL;
    try {
      url = parseWebhookUrl(delivery.url);
    } catch (err) {
      return { statusCode: null, error: (err as Error).message, final: true };
    }
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "User-Agent": "slugforge-webhooks",
          [DELIVERY_HEADER]: delivery.id,
          [EVENT_HEADER]: delivery.event,
          [SIGNATURE_HEADER]: signBody(delivery.secret, delivery.body),
        },
        body: delivery.body,
        // A receiver must not send the server's POST elsewhere (another host, another scheme).
        redirect: "manual",
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stop.signal]),
      });
      // The answer's body is never read: a receiver that streams or stalls it costs nothing.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { statusCode: res.status, error: null };
      const location = res.status >= 300 && res.status < 400 ? res.headers.get("location") : null;
      return { statusCode: res.status, error: location !== null ? `HTTP ${res.status} to ${clip(location)}: redirects are not followed` : `HTTP ${res.status}` };
    } catch (err) {
      return { statusCode: null, error: clip(describeFailure(err, timeoutMs)) };
    }
  }

  return {
    start() {
      if (timer || stop.signal.aborted) return;
      timer = setInterval(look, pollMs);
      timer.unref();
      wake();
      log.debug({ pollMs, timeoutMs, delays }, "webhook deliveries started");
    },
    wake,
    async close() {
      clearInterval(timer);
      stop.abort();
      await looking;
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Why a POST got no answer, in words: a timeout, or the network's own error code and message. */
function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError") return `no answer within ${timeoutMs >= 1000 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`} (timed out)`;
  const cause = e?.cause;
  if (cause?.message) return cause.code ? `${cause.code}: ${cause.message}` : cause.message;
  return e?.message ?? String(err);
}

function clip(text: string): string {
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}
