/**
 * Release and build webhooks, as the API, the build recorder and the composition root use them:
 * events queued with what they tell of, a worker that delivers them signed and retries, the URL rule.
 */
export { createWebhookEvents, type EventStore, type WebhookEvents, type WebhookEventsDeps } from "./events.js";
export { createDeliveryWorker, type DeliverySettings, type DeliveryWorker } from "./delivery-worker.js";
export { buildPayload, releasePayload, type BuildPayload, type ReleaseFacts, type ReleaseImage, type ReleaseKind, type ReleasePayload } from "./payloads.js";
export { DEFAULT_DELIVERY_TIMEOUT_MS, DEFAULT_RETRY_DELAYS_MS, nextTryAt } from "./retry-schedule.js";
export { DELIVERY_HEADER, EVENT_HEADER, MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, SIGNATURE_HEADER, mintWebhookSecret, signBody, signatureMatches } from "./signature.js";
export { parseWebhookUrl, urlOrigin } from "./webhook-url.js";
