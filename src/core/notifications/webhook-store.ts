// Webhook subscriptions and the delivery log on the embedded store (tables of migration 0004). Secrets are
// sealed at rest with the installation secret and opened only to sign a delivery. The same port on PostgreSQL:
// src/core/store/shared/webhooks.ts (a method may answer with a promise; callers always await).
import { randomBytes, randomUUID } from "node:crypto";
import type { SecretBox } from "../store/shared/secret-box";
import { type Kysely, sql } from "kysely";
import type { Database, WebhookDeliveriesTable } from "../store/schema";
import { compiledQuery, paramsOf, sqliteBuilder, sqliteQuery } from "../store/sqlite-query";
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
  /**
   * Subscribes, unless the org already has `maxPerOrg` subscriptions made through the API (then undefined). The
   * count and the insert are one step for every node: two creates racing for the last place cannot both take it.
   */
  create(org_id: string, input: WebhookInput, maxPerOrg: number): MaybePromise<SigningWebhook | undefined>;
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

export const fromDeliveryRow = (row: DeliveryRow | WebhookDeliveriesTable): WebhookDelivery => ({
  ...(row as DeliveryRow),
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

  const statements = webhookStatements(db);

  return {
    create(org_id, input, maxPerOrg) {
      // One writer at a time on the embedded store (one node): the count cannot change before the insert.
      return db.transaction(() => {
        if (Number(statements.countWebhooks.get({ org_id })?.n ?? 0) >= maxPerOrg) return undefined;
        const { row, secret } = newWebhookRow(org_id, input, options.box, now());
        statements.insertWebhook.run(row);
        return { ...fromWebhookRow(row), secret };
      })();
    },

    list(org_id) {
      const fromEnv = envFor(org_id);
      return [
        ...(fromEnv ? [publicView(fromEnv)] : []),
        ...statements.listWebhooks.all({ org_id }).map(fromWebhookRow),
      ];
    },

    remove(org_id, webhook_id) {
      return db.transaction(() => {
        const removed = statements.removeWebhook.run({ org_id, webhook_id }).changes > 0;
        if (removed) statements.abandon.run({ org_id, webhook_id });
        return removed;
      })();
    },

    subscribedTo(org_id, event) {
      const fromEnv = envFor(org_id);
      return [...(fromEnv ? [fromEnv] : []), ...statements.listWebhooks.all({ org_id }).map(withSecret)].filter((w) =>
        w.events.includes(event),
      );
    },

    signing(org_id, webhook_id) {
      if (webhook_id === ENV_DEFAULT_WEBHOOK_ID) return envFor(org_id) ?? null;
      const row = statements.getWebhook.get({ org_id, webhook_id });
      return row ? withSecret(row) : null;
    },

    insertDelivery(delivery) {
      return statements.insertDelivery.run({ ...delivery, attempts: JSON.stringify(delivery.attempts) }).changes > 0;
    },

    claim(delivery_id, expectedCount, leaseUntil, dueBy) {
      // A timer may fire a millisecond before the wall clock reaches the time it was set for.
      const at = dueBy ?? now().toISOString();
      return (
        statements.claim.run({ lease_until: leaseUntil, delivery_id, at, attempt_count: expectedCount }).changes > 0
      );
    },

    recordAttempt(delivery_id, attempt, outcome) {
      statements.record.run({ delivery_id, attempt: JSON.stringify(attempt), ...outcome });
    },

    get(delivery_id) {
      const row = statements.get.get({ delivery_id });
      return row ? fromDeliveryRow(row) : null;
    },

    due(at, limit = 100) {
      return compiledQuery(db, dueDeliveries(sqliteBuilder, at, limit))
        .all()
        .map(fromDeliveryRow);
    },

    deliveries(org_id, filter = {}) {
      return compiledQuery(db, deliveriesQuery(sqliteBuilder, org_id, filter))
        .all()
        .map(fromDeliveryRow);
    },
  };
}

type WebhookKey = { org_id: string; webhook_id: string };

/** The embedded store's statements, built once (src/core/store/sqlite-query.ts). */
function webhookStatements(db: Db) {
  const webhooksOf = (b: typeof sqliteBuilder, $: { org_id: string }) =>
    b.selectFrom("webhooks").selectAll().where("org_id", "=", $.org_id);
  return {
    insertWebhook: sqliteQuery(db, (b, $: WebhookRow) => b.insertInto("webhooks").values(paramsOf($, WEBHOOK_COLUMNS))),
    countWebhooks: sqliteQuery(db, (b, $: { org_id: string }) =>
      b
        .selectFrom("webhooks")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("org_id", "=", $.org_id),
    ),
    listWebhooks: sqliteQuery(db, (b, $: { org_id: string }) =>
      webhooksOf(b, $).orderBy("created_at").orderBy("webhook_id"),
    ),
    getWebhook: sqliteQuery(db, (b, $: WebhookKey) => webhooksOf(b, $).where("webhook_id", "=", $.webhook_id)),
    removeWebhook: sqliteQuery(db, (b, $: WebhookKey) =>
      b.deleteFrom("webhooks").where("org_id", "=", $.org_id).where("webhook_id", "=", $.webhook_id),
    ),
    abandon: sqliteQuery(db, (b, $: WebhookKey) =>
      b
        .updateTable("webhook_deliveries")
        .set({ status: "failed", next_attempt_at: null })
        .where("org_id", "=", $.org_id)
        .where("webhook_id", "=", $.webhook_id)
        .where("status", "=", "pending"),
    ),
    insertDelivery: sqliteQuery(db, (b, $: DeliveryRow) =>
      b
        .insertInto("webhook_deliveries")
        .values(paramsOf($, DELIVERY_COLUMNS))
        .onConflict((oc) => oc.columns(["webhook_id", "org_id", "event_id"]).doNothing()),
    ),
    claim: sqliteQuery(db, (b, $: { lease_until: string; delivery_id: string; at: string; attempt_count: number }) =>
      b
        .updateTable("webhook_deliveries")
        .set((eb) => ({ attempt_count: eb("attempt_count", "+", 1), next_attempt_at: $.lease_until }))
        .where("delivery_id", "=", $.delivery_id)
        .where("status", "=", "pending")
        .where("next_attempt_at", "<=", $.at)
        .where("attempt_count", "=", $.attempt_count),
    ),
    get: sqliteQuery(db, (b, $: { delivery_id: string }) =>
      b.selectFrom("webhook_deliveries").selectAll().where("delivery_id", "=", $.delivery_id),
    ),
    // The attempt is appended to the JSON array in place (SQLite's json_insert), not read and written back.
    record: sqliteQuery(
      db,
      (
        b,
        $: {
          delivery_id: string;
          attempt: string;
          status: DeliveryStatus;
          next_attempt_at: string | null;
          delivered_at: string | null;
        },
      ) =>
        b
          .updateTable("webhook_deliveries")
          .set({
            attempts: sql<string>`json_insert(attempts, '$[#]', json(${$.attempt}))`,
            status: $.status,
            next_attempt_at: $.next_attempt_at,
            delivered_at: $.delivered_at,
          })
          .where("delivery_id", "=", $.delivery_id),
    ),
  };
}

const WEBHOOK_COLUMNS = [
  "webhook_id",
  "org_id",
  "url",
  "format",
  "events",
  "secret_sealed",
  "description",
  "created_at",
] as const satisfies readonly (keyof WebhookRow)[];

const DELIVERY_COLUMNS = [
  "delivery_id",
  "org_id",
  "webhook_id",
  "event_id",
  "event",
  "approval_id",
  "url",
  "body",
  "status",
  "attempts",
  "attempt_count",
  "next_attempt_at",
  "created_at",
  "delivered_at",
] as const satisfies readonly (keyof DeliveryRow)[];

/** Pending deliveries due at `at`, the most overdue first (both backends). */
export function dueDeliveries(b: Kysely<Database>, at: string, limit: number) {
  return b
    .selectFrom("webhook_deliveries")
    .selectAll()
    .where("status", "=", "pending")
    .where("next_attempt_at", "<=", at)
    .orderBy("next_attempt_at")
    .limit(limit);
}

/** An org's delivery log, newest first (then by delivery_id), filtered; after `filter.after` when given (both backends). */
export function deliveriesQuery(b: Kysely<Database>, org_id: string, filter: DeliveryFilter) {
  let query = b.selectFrom("webhook_deliveries").selectAll().where("org_id", "=", org_id);
  if (filter.webhook_id !== undefined) query = query.where("webhook_id", "=", filter.webhook_id);
  if (filter.approval_id !== undefined) query = query.where("approval_id", "=", filter.approval_id);
  if (filter.status !== undefined) query = query.where("status", "=", filter.status);
  const after = filter.after;
  if (after) {
    // The keyset of the order below: an older delivery, or one of the same instant with a greater id.
    query = query.where((eb) =>
      eb.or([
        eb("created_at", "<", after.created_at),
        eb.and([eb("created_at", "=", after.created_at), eb("delivery_id", ">", after.delivery_id)]),
      ]),
    );
  }
  return query.orderBy("created_at", "desc").orderBy("delivery_id").limit(deliveriesLimit(filter));
}
