import { randomBytes } from "node:crypto";
import type { ActivityAction, ActivityEntry, MetadataStore, MetadataTx } from "../store/types.js";
import { isWebhookEvent, WEBHOOK_EVENTS, type WebhookEvent } from "../store/webhook-types.js";
import { MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, mintWebhookSecret, parseWebhookUrl, urlOrigin } from "../webhooks/index.js";
import { fail, readJson, sendJson } from "./http-json.js";
import type { createRouter, RouteContext } from "./router.js";

export interface WebhookRouteDeps {
  readonly store: MetadataStore;
  /** The route's app, refused with APP_NOT_FOUND when there is none (api-handler's). */
  readonly app: (ctx: RouteContext) => Promise<string>;
  /** Runs a change and records it in the app's activity (api-handler's). */
  readonly change: <T>(ctx: RouteContext, app: string, action: ActivityAction, detail: ActivityEntry<T>["detail"], apply: (tx: MetadataTx) => Promise<T>) => Promise<T>;
}

const ADD_HINT = 'send {"url": "https://…", "secret": "(optional, 16+ characters)", "events": ["release", "build"] (optional)}';
const MAX_LIMIT = 500;

/**
 * The admin's webhooks of an app (API_ACCESS makes them admin-only: a URL points the server at
 * any address it reaches, and a secret signs what deploy systems trust). The secret is in the
 * creation's answer and nowhere else; the activity names the URL's origin, never its path or query.
 */
export function addWebhookRoutes(router: ReturnType<typeof createRouter>, { store, app, change }: WebhookRouteDeps): void {
  router.add("GET", "/api/apps/:app/webhooks", async (ctx) => sendJson(ctx.res, 200, await store.listWebhooks(await app(ctx))));
  router.add("POST", "/api/apps/:app/webhooks", async (ctx) => {
    const name = await app(ctx);
    const { url, secret, events } = parseWebhookBody(await readJson(ctx.req));
    const id = randomBytes(6).toString("hex");
    const detail = `webhook ${id} to ${urlOrigin(url)} (${events.join(", ")})`;
    const created = await change(ctx, name, "webhook.create", detail, (tx) => tx.createWebhook({ id, app: name, url, secret, events }));
    sendJson(ctx.res, 201, { ...created, secret });
  });
  router.add("DELETE", "/api/apps/:app/webhooks/:id", async (ctx) => {
    const name = await app(ctx);
    const id = ctx.params.id!;
    const gone = (await store.listWebhooks(name)).find((w) => w.id === id);
    if (!gone) fail("NOT_FOUND", `${name} has no webhook with id ${id}; \`slugforge webhooks ${name}\` lists them`);
    const deleted = await change(ctx, name, "webhook.delete", `webhook ${id} to ${urlOrigin(gone.url)}, with its deliveries`, (tx) => tx.deleteWebhook(name, id));
    sendJson(ctx.res, 200, { ...deleted, deleted: true });
  });
  router.add("GET", "/api/apps/:app/webhook-deliveries", async (ctx) => {
    const name = await app(ctx);
    const webhookId = ctx.query.get("webhook") ?? undefined;
    const rawLimit = ctx.query.get("limit") ?? "100";
    const limit = /^\d{1,3}$/.test(rawLimit) ? Number(rawLimit) : 0;
    if (limit < 1 || limit > MAX_LIMIT) fail("BAD_REQUEST", `limit must be a whole number from 1 to ${MAX_LIMIT}, not ${JSON.stringify(rawLimit)}`);
    if (webhookId !== undefined && !(await store.listWebhooks(name)).some((w) => w.id === webhookId)) fail("NOT_FOUND", `${name} has no webhook with id ${webhookId}`);
    sendJson(ctx.res, 200, await store.listDeliveries(name, { webhookId, limit }));
  });
}

/** A new webhook's fields, or BAD_REQUEST / WEBHOOK_URL_INVALID saying what to send. */
function parseWebhookBody(body: unknown): { url: string; secret: string; events: WebhookEvent[] } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) fail("BAD_REQUEST", ADD_HINT);
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((k) => !["url", "secret", "events"].includes(k));
  if (unknown.length > 0) fail("BAD_REQUEST", `unknown field ${unknown.map((k) => JSON.stringify(k)).join(", ")}: ${ADD_HINT}`);
  const url = parseWebhookUrl(fields.url).href;
  let secret: string;
  if (fields.secret === undefined || fields.secret === null) secret = mintWebhookSecret();
  else if (typeof fields.secret === "string" && fields.secret.length >= MIN_SECRET_LENGTH && fields.secret.length <= MAX_SECRET_LENGTH) secret = fields.secret;
  else return fail("BAD_REQUEST", `the secret must be a string of ${MIN_SECRET_LENGTH} to ${MAX_SECRET_LENGTH} characters (leave it out to have one made)`);
  const events = fields.events ?? WEBHOOK_EVENTS;
  if (!Array.isArray(events) || events.length === 0 || !events.every(isWebhookEvent)) {
    fail("BAD_REQUEST", `events must be a list of one or more of ${WEBHOOK_EVENTS.join(", ")}, not ${JSON.stringify(events)}`);
  }
  return { url, secret, events: WEBHOOK_EVENTS.filter((e) => (events as unknown[]).includes(e)) };
}
