// Announces the REST changes other nodes may cache on the event bus (src/core/events): a revoked capability
// token and a registered, updated or moved manifest. Published after the change is stored (the handler succeeded);
// the store stays the truth, so a lost event costs a cache at most its own re-check, never a wrong decision.
// Changes made outside REST (the GitOps manifest folder at start-up) are not announced; the CLI goes through REST.
import type { EventBus, GatehouseEvent } from "../core/events";
import { logger } from "../core/log/logger";
import type { Handler, HandlerGroup, OperationId, OperationRequest } from "./handlers";

const log = logger.child({ module: "events" });

type Announce = (req: OperationRequest<OperationId>, reply: { body?: unknown }) => GatehouseEvent | undefined;

const orgOf = (req: OperationRequest<OperationId>) => (req.params as unknown as { org_id?: string }).org_id ?? "";

const manifestChanged: Announce = (req, reply) => {
  const body = reply.body as { manifest_id?: string; uapk_id?: string } | undefined;
  if (!body?.manifest_id) return undefined;
  return {
    type: "manifest.changed",
    org_id: orgOf(req),
    manifest_id: body.manifest_id,
    ...(body.uapk_id ? { uapk_id: body.uapk_id } : {}),
  };
};

const ANNOUNCED: Partial<Record<OperationId, Announce>> = {
  CapabilityTokens_revoke: (req) => ({
    type: "token.revoked",
    org_id: orgOf(req),
    token_id: (req.params as unknown as { token_id: string }).token_id,
  }),
  Manifests_register: manifestChanged,
  Manifests_update: manifestChanged,
  Manifests_activate: manifestChanged,
  Manifests_suspend: manifestChanged,
  Manifests_revoke: manifestChanged,
};

/** The group with its change-making handlers wrapped to publish their event after success. */
export function announceChanges<G extends HandlerGroup>(handlers: G, events: EventBus): G {
  const wrapped: Record<string, unknown> = { ...handlers };
  for (const [operationId, announce] of Object.entries(ANNOUNCED) as [OperationId, Announce][]) {
    const handler = handlers[operationId] as Handler<OperationId> | undefined;
    if (!handler) continue;
    wrapped[operationId] = async (req: OperationRequest<OperationId>) => {
      const reply = await handler(req);
      const event = announce(req, reply);
      if (event) {
        events
          .publish(event)
          .catch((err) => log.warn({ err: String(err), event: event.type }, "change event not published"));
      }
      return reply;
    };
  }
  return wrapped as G;
}
