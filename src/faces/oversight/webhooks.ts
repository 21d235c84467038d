// Approval notifications, operator side: subscribe a URL to the org's approval events, list and remove
// subscriptions, read the delivery log (spec/webhooks.tsp). Delivering is src/core/notifications' job. Either
// backend's store (embedded SQLite, or the shared store on PostgreSQL) serves them.
import {
  checkTarget,
  ENV_DEFAULT_WEBHOOK_ID,
  WEBHOOK_EVENT_TYPES,
  type TargetPolicy,
  type WebhookDelivery,
  type WebhookStore,
} from "../../core/notifications";
import { logger } from "../../core/log/logger";
import type { HandlerGroup } from "../../http/handlers";
import { decodeTimeCursor, encodeTimeCursor, storePageOf, timePageOf } from "../../http/paging";
import { HttpProblem } from "../../http/problem";
import { requireOperatorOf } from "../../http/boundary/org-scope";

const log = logger.child({ module: "webhooks" });

/** Deliveries per page when `limit` is not given. */
const DEFAULT_DELIVERIES_PAGE = 100;

export interface WebhookHandlerDeps {
  webhooks: WebhookStore;
  target: TargetPolicy;
  /** Subscriptions an org may create (GATEHOUSE_WEBHOOKS_PER_ORG). */
  maxPerOrg: number;
}

/** The log entry as the spec shows it: the body sent is not repeated (the receiver has it). */
function toDelivery(d: WebhookDelivery) {
  return {
    delivery_id: d.delivery_id,
    webhook_id: d.webhook_id,
    event_id: d.event_id,
    event: d.event,
    approval_id: d.approval_id,
    url: d.url,
    status: d.status,
    attempts: d.attempts,
    ...(d.status === "pending" && d.next_attempt_at !== null ? { next_attempt_at: d.next_attempt_at } : {}),
    created_at: d.created_at,
    ...(d.delivered_at !== null ? { delivered_at: d.delivered_at } : {}),
  };
}

export function webhookHandlers({ webhooks, target, maxPerOrg }: WebhookHandlerDeps) {
  return {
    Webhooks_create: async ({ params, body, principal }) => {
      const by = requireOperatorOf(principal, params.org_id);
      // The same guard as every delivery: refused now rather than failing silently later.
      const verdict = checkTarget(body.url, target);
      if (!verdict.ok) throw new HttpProblem(400, verdict.message, { code: "WEBHOOK_TARGET_REFUSED" });
      const input = {
        url: body.url,
        format: body.format ?? "gatehouse",
        events: body.events ?? [...WEBHOOK_EVENT_TYPES],
        ...(body.secret !== undefined ? { secret: body.secret } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
      };
      const created = await webhooks.create(params.org_id, input, maxPerOrg);
      if (!created) {
        throw new HttpProblem(
          409,
          `This organization already has ${maxPerOrg} webhook subscriptions, the most GATEHOUSE_WEBHOOKS_PER_ORG allows; remove one first`,
          { code: "WEBHOOK_LIMIT_REACHED" },
        );
      }
      log.info(
        { org_id: params.org_id, webhook_id: created.webhook_id, by, host: verdict.url.host },
        "webhook created",
      );
      return { status: 201, body: created };
    },

    Webhooks_list: async ({ params, query, principal }) => {
      requireOperatorOf(principal, params.org_id);
      const all = await webhooks.list(params.org_id);
      // Oldest first (the environment's default leads); a subscription removed between pages keeps the cursor valid.
      return { status: 200, body: timePageOf(all, { idKey: "webhook_id", order: "oldest-first" }, query) };
    },

    Webhooks_remove: async ({ params, principal }) => {
      const by = requireOperatorOf(principal, params.org_id);
      if (params.webhook_id === ENV_DEFAULT_WEBHOOK_ID || !(await webhooks.remove(params.org_id, params.webhook_id))) {
        const why = params.webhook_id === ENV_DEFAULT_WEBHOOK_ID ? " (it is configured by GATEHOUSE_WEBHOOK_URL)" : "";
        throw new HttpProblem(404, `Webhook ${params.webhook_id} not found${why}`, { code: "WEBHOOK_NOT_FOUND" });
      }
      log.info({ org_id: params.org_id, webhook_id: params.webhook_id, by }, "webhook removed");
      return { status: 204, body: undefined };
    },

    Webhooks_deliveries: async ({ params, query, principal }) => {
      requireOperatorOf(principal, params.org_id);
      const limit = query.limit ?? DEFAULT_DELIVERIES_PAGE;
      // Decoded before the store is asked: a bad cursor is a 400 whatever the log holds.
      const after = query.cursor !== undefined ? decodeTimeCursor(query.cursor, "delivery_id") : undefined;
      // One delivery more than the page tells whether another page follows.
      const rows = await webhooks.deliveries(params.org_id, {
        ...(query.webhook_id !== undefined ? { webhook_id: query.webhook_id } : {}),
        ...(query.approval_id !== undefined ? { approval_id: query.approval_id } : {}),
        ...(query.status !== undefined ? { status: query.status } : {}),
        ...(after ? { after: { created_at: after.created_at, delivery_id: after.id } } : {}),
        limit: limit + 1,
      });
      const page = storePageOf(rows, limit, toDelivery, (last) =>
        encodeTimeCursor(last.created_at, "delivery_id", last.delivery_id),
      );
      return { status: 200, body: page };
    },
  } satisfies HandlerGroup;
}
