// Webhook subscriptions and the delivery log on the embedded store (tables of migration 0004). Secrets are
// sealed at rest with the installation secret and opened only to sign a delivery. The same port on PostgreSQL:
// src/core/store/shared/webhooks.ts (a method may answer with a promise; callers always await).
import { randomBytes, randomUUID } from "node:crypto";
import type { SecretBox } from "../store/shared/secret-box";
import type { Db } from "../store/sqlite";
import type { WebhookEventType, WebhookFormat } from "./payloads";

export const ENV_DEFAULT_WEBHOOK_ID = "env-default";

export interface Webhook {
  webhook_id: string;
  org_id: string;
  url: string;
  format: WebhookFormat;
  events: WebhookEventType[];
  description?: string;
  source: "api" | "environment";
  created_at: string;
}

/** A subscription with its secret, for signing. */
export interface SigningWebhook extends Webhook {
  secret: string;
}

export interface WebhookInput {
  url: string;
  format: WebhookFormat;
  events: WebhookEventType[];
  secret?: string;
  description?: string;
}

export type DeliveryStatus = "pending" | "delivered" | "failed";

export interface WebhookAttempt {
  attempt: number;
  at: string;
  status_code?: number;
  error?: string;
  duration_ms: number;
}

export interface WebhookDelivery {
  delivery_id: string;
  org_id: string;
  webhook_id: string;
  event_id: string;
  event: WebhookEventType;
  approval_id: string;
  url: string;
  body: string;
  status: DeliveryStatus;
  attempts: WebhookAttempt[];
  attempt_count: number;
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
}

export type MaybePromise<T> = T | Promise<T>;

export interface WebhookRow {
  webhook_id: string;
  org_id: string;
  url: string;
  format: WebhookFormat;
  events: string;
  secret_sealed: string;
  description: string | null;
  created_at: string;
}

export type DeliveryRow = Omit<WebhookDelivery, "attempts"> & { attempts: string };

export interface DeliveryFilter {
  webhook_id?: string;
  approval_id?: string;
  status?: DeliveryStatus;
  /** Only deliveries after this one in the log's order (newest first, then delivery_id): the next page. */
  after?: { created_at: string; delivery_id: string };
  limit?: number;
}

export interface WebhookStoreOptions {
  box: SecretBox;
  /** The environment's subscription (GATEHOUSE_WEBHOOK_URL), for `defaultOrg` only. */
  envDefault?: { url: string; format: WebhookFormat; secret: string; defaultOrg: string };
  now?: () => Date;
}

export interface WebhookStore {
  create(org_id: string, input: WebhookInput): MaybePromise<SigningWebhook>;
  list(org_id: string): MaybePromise<Webhook[]>;
  remove(org_id: string, webhook_id: string): MaybePromise<boolean>;
  /** The subscriptions of `org_id` that want `event`, with their secrets. */
  subscribedTo(org_id: string, event: WebhookEventType): MaybePromise<SigningWebhook[]>;
  /** One subscription with its secret (the environment's included), or null once removed. */
  signing(org_id: string, webhook_id: string): MaybePromise<SigningWebhook | null>;
  /** Records a delivery; false when this (subscription, event) was already recorded (by this node or another). */
  insertDelivery(delivery: WebhookDelivery): MaybePromise<boolean>;
  /**
   * Takes the next try of a pending delivery that is due: increments its count and holds it until `leaseUntil`,
   * so that no other node (or sweep) sends the same try. False when someone else took it first. `dueBy`: the
   * time the caller's timer was set for (default now).
   */
  claim(delivery_id: string, expectedCount: number, leaseUntil: string, dueBy?: string): MaybePromise<boolean>;
  /** Appends a try and sets the outcome (delivered, failed, or pending with the next try's time). */
  recordAttempt(
    delivery_id: string,
    attempt: WebhookAttempt,
    outcome: { status: DeliveryStatus; next_attempt_at: string | null; delivered_at: string | null },
  ): MaybePromise<void>;
  get(delivery_id: string): MaybePromise<WebhookDelivery | null>;
  /** Pending deliveries whose next try is due (after a restart, or a try another node left unfinished). */
  due(at: string, limit?: number): MaybePromise<WebhookDelivery[]>;
  deliveries(org_id: string, filter?: DeliveryFilter): MaybePromise<WebhookDelivery[]>;
}

export function fromWebhookRow(row: WebhookRow): Webhook {
  return {
    webhook_id: row.webhook_id,
    org_id: row.org_id,
    url: row.url,
    format: row.format,
    events: JSON.parse(row.events),
    ...(row.description !== null ? { description: row.description } : {}),
    source: "api",
    created_at: row.created_at,
  };
}

export const fromDeliveryRow = (row: DeliveryRow): WebhookDelivery => ({
  ...row,
  attempt_count: Number(row.attempt_count),
  attempts: JSON.parse(row.attempts),
});

/** The new subscription's row (its secret sealed) and the secret itself, shown once. */
export function newWebhookRow(
  org_id: string,
  input: WebhookInput,
  box: SecretBox,
  now: Date,
): { row: WebhookRow; secret: string } {
  const secret = input.secret ?? `whsec-${randomBytes(24).toString("base64url")}`;
  const row: WebhookRow = {
    webhook_id: `whk-${randomUUID()}`,
    org_id,
    url: input.url,
    format: input.format,
    events: JSON.stringify([...new Set(input.events)]),
    secret_sealed: box.seal(secret),
    description: input.description ?? null,
    created_at: now.toISOString(),
  };
  return { row, secret };
}

/** The environment's subscription (GATEHOUSE_WEBHOOK_URL): for the default org only, never stored. */
export function environmentWebhook(options: WebhookStoreOptions): (org_id: string) => SigningWebhook | undefined {
  const env = options.envDefault;
  const envWebhook: SigningWebhook | undefined = env && {
    webhook_id: ENV_DEFAULT_WEBHOOK_ID,
    org_id: env.defaultOrg,
    url: env.url,
    format: env.format,
    events: ["approval.created", "approval.decided", "approval.expired"],
    description: "GATEHOUSE_WEBHOOK_URL",
    source: "environment",
    created_at: new Date(0).toISOString(),
    secret: env.secret,
  };
  return (org_id) => (envWebhook && envWebhook.org_id === org_id ? envWebhook : undefined);
}

export const publicView = ({ secret: _secret, ...webhook }: SigningWebhook): Webhook => webhook;

/** Deliveries log limit: 1–501 (a page of at most 500 and one more to tell whether another follows), default 100. */
export const deliveriesLimit = (filter: DeliveryFilter) => Math.min(Math.max(filter.limit ?? 100, 1), 501);

export function createWebhookStore(db: Db, options: WebhookStoreOptions): WebhookStore {
  const now = options.now ?? (() => new Date());
  const envFor = environmentWebhook(options);
  const withSecret = (row: WebhookRow): SigningWebhook => ({
    ...fromWebhookRow(row),
    secret: options.box.open(row.secret_sealed),
  });

  const statements = {
    insertWebhook: db.prepare(
      `INSERT INTO webhooks (webhook_id, org_id, url, format, events, secret_sealed, description, created_at)
       VALUES (@webhook_id, @org_id, @url, @format, @events, @secret_sealed, @description, @created_at)`,
    ),
    listWebhooks: db.prepare<[string], WebhookRow>(
      "SELECT * FROM webhooks WHERE org_id = ? ORDER BY created_at, webhook_id",
    ),
    getWebhook: db.prepare<[string, string], WebhookRow>("SELECT * FROM webhooks WHERE org_id = ? AND webhook_id = ?"),
    removeWebhook: db.prepare<[string, string]>("DELETE FROM webhooks WHERE org_id = ? AND webhook_id = ?"),
    abandon: db.prepare<[string, string]>(
      `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL
        WHERE org_id = ? AND webhook_id = ? AND status = 'pending'`,
    ),
    insertDelivery: db.prepare(
      `INSERT INTO webhook_deliveries (delivery_id, org_id, webhook_id, event_id, event, approval_id, url, body, status,
         attempts, attempt_count, next_attempt_at, created_at, delivered_at)
       VALUES (@delivery_id, @org_id, @webhook_id, @event_id, @event, @approval_id, @url, @body, @status, @attempts,
         @attempt_count, @next_attempt_at, @created_at, @delivered_at)
       ON CONFLICT (webhook_id, org_id, event_id) DO NOTHING`,
    ),
    claim: db.prepare<[string, string, string, number]>(
      `UPDATE webhook_deliveries SET attempt_count = attempt_count + 1, next_attempt_at = ?
        WHERE delivery_id = ? AND status = 'pending' AND next_attempt_at <= ? AND attempt_count = ?`,
    ),
    get: db.prepare<[string], DeliveryRow>("SELECT * FROM webhook_deliveries WHERE delivery_id = ?"),
    record: db.prepare(
      `UPDATE webhook_deliveries SET attempts = json_insert(attempts, '$[#]', json(@attempt)), status = @status,
         next_attempt_at = @next_attempt_at, delivered_at = @delivered_at
        WHERE delivery_id = @delivery_id`,
    ),
    due: db.prepare<[string, number], DeliveryRow>(
      `SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
        ORDER BY next_attempt_at LIMIT ?`,
    ),
  };

  return {
    create(org_id, input) {
      const { row, secret } = newWebhookRow(org_id, input, options.box, now());
      statements.insertWebhook.run(row);
      return { ...fromWebhookRow(row), secret };
    },

    list(org_id) {
      const fromEnv = envFor(org_id);
      return [...(fromEnv ? [publicView(fromEnv)] : []), ...statements.listWebhooks.all(org_id).map(fromWebhookRow)];
    },

    remove(org_id, webhook_id) {
      return db.transaction(() => {
        const removed = statements.removeWebhook.run(org_id, webhook_id).changes > 0;
        if (removed) statements.abandon.run(org_id, webhook_id);
        return removed;
      })();
    },

    subscribedTo(org_id, event) {
      const fromEnv = envFor(org_id);
      return [...(fromEnv ? [fromEnv] : []), ...statements.listWebhooks.all(org_id).map(withSecret)].filter((w) =>
        w.events.includes(event),
      );
    },

    signing(org_id, webhook_id) {
      if (webhook_id === ENV_DEFAULT_WEBHOOK_ID) return envFor(org_id) ?? null;
      const row = statements.getWebhook.get(org_id, webhook_id);
      return row ? withSecret(row) : null;
    },

    insertDelivery(delivery) {
      return statements.insertDelivery.run({ ...delivery, attempts: JSON.stringify(delivery.attempts) }).changes > 0;
    },

    claim(delivery_id, expectedCount, leaseUntil, dueBy) {
      // A timer may fire a millisecond before the wall clock reaches the time it was set for.
      const at = dueBy ?? now().toISOString();
      return statements.claim.run(leaseUntil, delivery_id, at, expectedCount).changes > 0;
    },

    recordAttempt(delivery_id, attempt, outcome) {
      statements.record.run({ delivery_id, attempt: JSON.stringify(attempt), ...outcome });
    },

    get(delivery_id) {
      const row = statements.get.get(delivery_id);
      return row ? fromDeliveryRow(row) : null;
    },

    due(at, limit = 100) {
      return statements.due.all(at, limit).map(fromDeliveryRow);
    },

    deliveries(org_id, filter = {}) {
      const where = ["org_id = @org_id"];
      const params: Record<string, unknown> = { org_id };
      for (const key of ["webhook_id", "approval_id", "status"] as const) {
        if (filter[key] === undefined) continue;
        where.push(`${key} = @${key}`);
        params[key] = filter[key];
      }
      if (filter.after) {
        where.push("(created_at < @after_at OR (created_at = @after_at AND delivery_id > @after_id))");
        params.after_at = filter.after.created_at;
        params.after_id = filter.after.delivery_id;
      }
      const limit = deliveriesLimit(filter);
      return db
        .prepare<Record<string, unknown>, DeliveryRow>(
          `SELECT * FROM webhook_deliveries WHERE ${where.join(" AND ")}
            ORDER BY created_at DESC, delivery_id LIMIT ${limit}`,
        )
        .all(params)
        .map(fromDeliveryRow);
    },
  };
}
