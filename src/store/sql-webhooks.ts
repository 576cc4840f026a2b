import { randomUUID } from "node:crypto";
import type { Row, Sql } from "./sql.js";
import type { DeliveryAttempt, DeliveryRecord, DeliveryState, DueDelivery, WebhookEvent, WebhookRecord, WebhookStore } from "./webhook-types.js";

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

const toDelivery = (r: Row, attemptLog: DeliveryAttempt[]): DeliveryRecord => ({
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
  attemptLog,
});

/** The webhooks part of the metadata store (sqlStore puts it together). */
export function sqlWebhooks(sql: Sql, now: () => string): WebhookStore {
  const webhook = (id: string): Promise<Row | undefined> => sql.get("SELECT * FROM webhooks WHERE id = ?", [id]);
  /** Each delivery's attempts, in order, fetched at once. */
  const attemptsOf = async (deliveryIds: readonly string[]): Promise<Map<string, DeliveryAttempt[]>> => {
    const byDelivery = new Map<string, DeliveryAttempt[]>(deliveryIds.map((id) => [id, []]));
    if (deliveryIds.length === 0) return byDelivery;
    const rows = await sql.all(`SELECT * FROM webhook_attempts WHERE delivery_id IN (${deliveryIds.map(() => "?").join(", ")}) ORDER BY n`, deliveryIds);
    for (const r of rows) byDelivery.get(String(r.delivery_id))?.push(toAttempt(r));
    return byDelivery;
  };
  // PostgreSQL: another node's claim skips the rows this one is taking, instead of taking them too.
  const claimLock = sql.dialect === "postgres" ? " FOR UPDATE OF d SKIP LOCKED" : "";

  return {
    async createWebhook({ id, app, url, secret, events }) {
      await sql.run("INSERT INTO webhooks (id, app, url, secret, events, created_at) VALUES (?, ?, ?, ?, ?, ?)", [id, app, url, secret, JSON.stringify(events), now()]);
      return toWebhook((await webhook(id))!);
    },
    listWebhooks: async (app) => (await sql.all("SELECT * FROM webhooks WHERE app = ? ORDER BY created_at, rowid", [app])).map(toWebhook),
    async deleteWebhook(app, id) {
      const row = await webhook(id);
      if (!row || row.app !== app) return undefined;
      await sql.run("DELETE FROM webhooks WHERE id = ?", [id]);
      return toWebhook(row);
    },
    async queueDeliveries(app, event, body) {
      const at = now();
      const subscribed = (await sql.all("SELECT id, events FROM webhooks WHERE app = ? ORDER BY created_at, rowid", [app])).filter((r) =>
        (JSON.parse(String(r.events)) as string[]).includes(event),
      );
      const ids: string[] = [];
      for (const r of subscribed) {
        const id = randomUUID();
        await sql.run("INSERT INTO webhook_deliveries (id, webhook_id, app, event, payload, state, next_try_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)", [
          id, String(r.id), app, event, body, at, at,
        ]);
        ids.push(id);
      }
      return ids;
    },
    claimDueDeliveries(at, leaseUntil, limit) {
      return sql.transaction(async (t) => {
        const due = await t.all(
          `SELECT d.id, d.webhook_id, d.app, d.event, d.payload, d.attempts, w.url, w.secret
           FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
           WHERE d.state = 'pending' AND d.next_try_at <= ? ORDER BY d.next_try_at, d.created_at, d.rowid LIMIT ?${claimLock}`,
          [at, limit],
        );
        const claimed: DueDelivery[] = [];
        for (const r of due) {
          await t.run("UPDATE webhook_deliveries SET next_try_at = ? WHERE id = ?", [leaseUntil, r.id]);
          claimed.push({
            id: String(r.id),
            webhookId: String(r.webhook_id),
            app: String(r.app),
            event: r.event as WebhookEvent,
            url: String(r.url),
            secret: String(r.secret),
            body: String(r.payload),
            attempts: Number(r.attempts),
          });
        }
        return claimed;
      });
    },
    async recordDeliveryAttempt(id, attempt, outcome) {
      await sql.transaction(async (t) => {
        const nextTryAt = outcome.state === "pending" ? outcome.nextTryAt : null;
        const updated = await t.run(
          `UPDATE webhook_deliveries SET attempts = attempts + 1, last_status_code = ?, last_duration_ms = ?, last_error = ?, state = ?, next_try_at = ?
           WHERE id = ? AND state = 'pending'`,
          [attempt.statusCode, attempt.durationMs, attempt.error, outcome.state, nextTryAt, id],
        );
        if (updated === 0) return;
        await t.run("INSERT INTO webhook_attempts (delivery_id, n, at, status_code, duration_ms, error) VALUES (?, (SELECT attempts FROM webhook_deliveries WHERE id = ?), ?, ?, ?, ?)", [
          id, id, attempt.at, attempt.statusCode, attempt.durationMs, attempt.error,
        ]);
      });
    },
    async listDeliveries(app, options = {}) {
      const limit = options.limit ?? 100;
      const rows = options.webhookId === undefined
        ? await sql.all("SELECT * FROM webhook_deliveries WHERE app = ? ORDER BY created_at DESC, rowid DESC LIMIT ?", [app, limit])
        : await sql.all("SELECT * FROM webhook_deliveries WHERE app = ? AND webhook_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?", [app, options.webhookId, limit]);
      const attempts = await attemptsOf(rows.map((r) => String(r.id)));
      return rows.map((r) => toDelivery(r, attempts.get(String(r.id)) ?? []));
    },
  };
}
