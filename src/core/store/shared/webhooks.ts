// Webhook subscriptions and the delivery log in the shared store (PostgreSQL; the tables of migration 0004), the
// same port as the embedded store's (src/core/notifications/webhook-store.ts). Every node of a cluster hears the
// same approval event: the delivery's unique (subscription, event) key lets exactly one insert win, and the
// conditional UPDATE of `claim` lets exactly one node send each try. Secrets are sealed with a key derived from
// GATEHOUSE_SECRET, so every node can sign a delivery another node recorded.
import {
  type DeliveryRow,
  deliveriesQuery,
  dueDeliveries,
  environmentWebhook,
  ENV_DEFAULT_WEBHOOK_ID,
  fromDeliveryRow,
  fromWebhookRow,
  newWebhookRow,
  publicView,
  type SigningWebhook,
  type WebhookRow,
  type WebhookStore,
  type WebhookStoreOptions,
} from "../../notifications/webhook-store";
import { sql } from "kysely";
import type { AnyKysely } from "../postgres";

export function createSharedWebhookStore(db: AnyKysely, options: WebhookStoreOptions): WebhookStore {
  const now = options.now ?? (() => new Date());
  const envFor = environmentWebhook(options);
  const withSecret = (row: WebhookRow): SigningWebhook => ({
    ...fromWebhookRow(row),
    secret: options.box.open(row.secret_sealed),
  });
  const rowsOf = async (org_id: string) =>
    (await db
      .selectFrom("webhooks")
      .selectAll()
      .where("org_id", "=", org_id)
      .orderBy("created_at")
      .orderBy("webhook_id")
      .execute()) as WebhookRow[];

  return {
    create(org_id, input, maxPerOrg) {
      return db.transaction().execute(async (trx) => {
        // Nodes creating for the same org take turns, so the count each one reads still holds at its insert.
        await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`webhooks:${org_id}`}, 0))`.execute(trx);
        const { n } = await trx
          .selectFrom("webhooks")
          .select((eb) => eb.fn.countAll<string>().as("n"))
          .where("org_id", "=", org_id)
          .executeTakeFirstOrThrow();
        if (Number(n) >= maxPerOrg) return undefined;
        const { row, secret } = newWebhookRow(org_id, input, options.box, now());
        await trx.insertInto("webhooks").values(row).execute();
        return { ...fromWebhookRow(row), secret };
      });
    },

    async list(org_id) {
      const fromEnv = envFor(org_id);
      return [...(fromEnv ? [publicView(fromEnv)] : []), ...(await rowsOf(org_id)).map(fromWebhookRow)];
    },

    remove(org_id, webhook_id) {
      // The subscription and its pending tries go together: a try left pending would be sent to a removed URL.
      return db.transaction().execute(async (trx) => {
        const removed = await trx
          .deleteFrom("webhooks")
          .where("org_id", "=", org_id)
          .where("webhook_id", "=", webhook_id)
          .executeTakeFirst();
        if (Number(removed.numDeletedRows) === 0) return false;
        await trx
          .updateTable("webhook_deliveries")
          .set({ status: "failed", next_attempt_at: null })
          .where("org_id", "=", org_id)
          .where("webhook_id", "=", webhook_id)
          .where("status", "=", "pending")
          .execute();
        return true;
      });
    },

    async subscribedTo(org_id, event) {
      const fromEnv = envFor(org_id);
      return [...(fromEnv ? [fromEnv] : []), ...(await rowsOf(org_id)).map(withSecret)].filter((w) =>
        w.events.includes(event),
      );
    },

    async signing(org_id, webhook_id) {
      if (webhook_id === ENV_DEFAULT_WEBHOOK_ID) return envFor(org_id) ?? null;
      const row = (await db
        .selectFrom("webhooks")
        .selectAll()
        .where("org_id", "=", org_id)
        .where("webhook_id", "=", webhook_id)
        .executeTakeFirst()) as WebhookRow | undefined;
      return row ? withSecret(row) : null;
    },

    async insertDelivery(delivery) {
      const inserted = await db
        .insertInto("webhook_deliveries")
        .values({ ...delivery, attempts: JSON.stringify(delivery.attempts) })
        .onConflict((oc) => oc.columns(["webhook_id", "org_id", "event_id"]).doNothing())
        .executeTakeFirst();
      return Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
    },

    async claim(delivery_id, expectedCount, leaseUntil, dueBy) {
      // A timer may fire a millisecond before the wall clock reaches the time it was set for.
      const at = dueBy ?? now().toISOString();
      const claimed = await db
        .updateTable("webhook_deliveries")
        .set((eb) => ({ attempt_count: eb("attempt_count", "+", 1), next_attempt_at: leaseUntil }))
        .where("delivery_id", "=", delivery_id)
        .where("status", "=", "pending")
        .where("next_attempt_at", "<=", at)
        .where("attempt_count", "=", expectedCount)
        .executeTakeFirst();
      return Number(claimed.numUpdatedRows) > 0;
    },

    async recordAttempt(delivery_id, attempt, outcome) {
      // Only the node holding the claim records its try, so reading the log and writing it back races nobody.
      await db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom("webhook_deliveries")
          .select("attempts")
          .where("delivery_id", "=", delivery_id)
          .executeTakeFirst();
        if (!row) return;
        const attempts = [...(JSON.parse(row.attempts as string) as unknown[]), attempt];
        await trx
          .updateTable("webhook_deliveries")
          .set({ attempts: JSON.stringify(attempts), ...outcome })
          .where("delivery_id", "=", delivery_id)
          .execute();
      });
    },

    async get(delivery_id) {
      const row = await db
        .selectFrom("webhook_deliveries")
        .selectAll()
        .where("delivery_id", "=", delivery_id)
        .executeTakeFirst();
      return row ? fromDeliveryRow(row as DeliveryRow) : null;
    },

    async due(at, limit = 100) {
      const rows = await dueDeliveries(db, at, limit).execute();
      return rows.map(fromDeliveryRow);
    },

    async deliveries(org_id, filter = {}) {
      const rows = await deliveriesQuery(db, org_id, filter).execute();
      return rows.map(fromDeliveryRow);
    },
  };
}
