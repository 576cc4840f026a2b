import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import type { DeliveryAttempt, DeliveryRecord, DeliveryState, DueDelivery, WebhookEvent, WebhookRecord, WebhookStore } from "./webhook-types.js";

type Row = Record<string, unknown>;

const toWebhook = (r: Row): WebhookRecord => ({
  id: String(r.id),
  app: String(r.app),
  url: String(r.url),
  events: JSON.parse(String(r.events)) as WebhookEvent[],
  createdAt: String(r.created_at),
});

const toAttempt = (r: Row): DeliveryAttempt => ({
  n: Number(r.n),
  at: String(r.at),
  statusCode: r.status_code === null ? null : Number(r.status_code),
  durationMs: Number(r.duration_ms),
  error: (r.error as string | null) ?? null,
});

/** The webhooks part of the SQLite store (openSqliteStore puts it together). */
export function sqliteWebhooks(db: Database.Database, now: () => string): WebhookStore {
  const webhook = (id: string): Row | undefined => db.prepare("SELECT * FROM webhooks WHERE id = ?").get(id) as Row | undefined;
  const attemptsOf = (deliveryId: string): DeliveryAttempt[] =>
    (db.prepare("SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY n").all(deliveryId) as Row[]).map(toAttempt);
  const toDelivery = (r: Row): DeliveryRecord => ({
    id: String(r.id),
    webhookId: String(r.webhook_id),
    app: String(r.app),
    event: r.event as WebhookEvent,
    payload: JSON.parse(String(r.payload)) as unknown,
    state: r.state as DeliveryState,
    attempts: Number(r.attempts),
    lastStatusCode: r.last_status_code === null ? null : Number(r.last_status_code),
    lastDurationMs: r.last_duration_ms === null ? null : Number(r.last_duration_ms),
    lastError: (r.last_error as string | null) ?? null,
    nextTryAt: (r.next_try_at as string | null) ?? null,
    createdAt: String(r.created_at),
    attemptLog: attemptsOf(String(r.id)),
  });

  return {
    createWebhook({ id, app, url, secret, events }) {
      db.prepare("INSERT INTO webhooks (id, app, url, secret, events, created_at) VALUES (?, ?, ?, ?, ?, ?)").run(id, app, url, secret, JSON.stringify(events), now());
      return toWebhook(webhook(id)!);
    },
    listWebhooks: (app) => (db.prepare("SELECT * FROM webhooks WHERE app = ? ORDER BY created_at, rowid").all(app) as Row[]).map(toWebhook),
    deleteWebhook(app, id) {
      const row = webhook(id);
      if (!row || row.app !== app) return undefined;
      db.prepare("DELETE FROM webhooks WHERE id = ?").run(id);
      return toWebhook(row);
    },
    queueDeliveries(app, event, body) {
      const at = now();
      const subscribed = (db.prepare("SELECT id, events FROM webhooks WHERE app = ? ORDER BY created_at, rowid").all(app) as Row[]).filter((r) =>
        (JSON.parse(String(r.events)) as string[]).includes(event),
      );
      const insert = db.prepare("INSERT INTO webhook_deliveries (id, webhook_id, app, event, payload, state, next_try_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)");
      return subscribed.map((r) => {
        const id = randomUUID();
        insert.run(id, String(r.id), app, event, body, at, at);
        return id;
      });
    },
    claimDueDeliveries(at, leaseUntil, limit) {
      return db.transaction(() => {
        const due = db
          .prepare(
            `SELECT d.id, d.webhook_id, d.app, d.event, d.payload, d.attempts, w.url, w.secret
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.state = 'pending' AND d.next_try_at <= ? ORDER BY d.next_try_at, d.created_at, d.rowid LIMIT ?`,
          )
          .all(at, limit) as Row[];
        const lease = db.prepare("UPDATE webhook_deliveries SET next_try_at = ? WHERE id = ?");
        return due.map((r): DueDelivery => {
          lease.run(leaseUntil, r.id);
          return {
            id: String(r.id),
            webhookId: String(r.webhook_id),
            app: String(r.app),
            event: r.event as WebhookEvent,
            url: String(r.url),
            secret: String(r.secret),
            body: String(r.payload),
            attempts: Number(r.attempts),
          };
        });
      })();
    },
    recordDeliveryAttempt(id, attempt, outcome) {
      db.transaction(() => {
        const nextTryAt = outcome.state === "pending" ? outcome.nextTryAt : null;
        const updated = db
          .prepare(
            `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = ?, last_duration_ms = ?, last_error = ?, state = ?, next_try_at = ?
             WHERE id = ? AND state = 'pending'`,
          )
          .run(attempt.statusCode, attempt.durationMs, attempt.error, outcome.state, nextTryAt, id);
        if (updated.changes === 0) return;
        db.prepare("INSERT INTO webhook_attempts (delivery_id, n, at, status_code, duration_ms, error) VALUES (?, (SELECT attempts FROM webhook_deliveries WHERE id = ?), ?, ?, ?, ?)")
          .run(id, id, attempt.at, attempt.statusCode, attempt.durationMs, attempt.error);
      })();
    },
    listDeliveries(app, options = {}) {
      const limit = options.limit ?? 100;
      const rows = options.webhookId === undefined
        ? db.prepare("SELECT * FROM webhook_deliveries WHERE app = ? ORDER BY created_at DESC, rowid DESC LIMIT ?").all(app, limit)
        : db.prepare("SELECT * FROM webhook_deliveries WHERE app = ? AND webhook_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?").all(app, options.webhookId, limit);
      return (rows as Row[]).map(toDelivery);
    },
  };
}
