// HTTP handlers of the governed-actions face: Gateway_execute / _evaluate / _batch / _health,
// CapabilityTokens_issue / _list / _revoke, Manifests_register / _update / _list / _get / _activate / _suspend / _revoke.
// (Approvals_*, Interactions_* and Gateway_getApproval belong to the approvals/audit helpers.)
// Authentication and Ajv validation ran before these; org scoping is done here: an agent acts in the org of
// its API key, an operator only on an org its token names.
import type { components } from "../../../generated/api-types";
import {
  ActionConflictError,
  ActionUnavailableError,
  OutcomePendingError,
  type GovernanceEngine,
  ParamsTooLargeError,
} from "../../core/governance";
import type { Principal } from "../../core/identity/principal";
import { logger } from "../../core/log/logger";
import { GATEWAY_CHANNELS } from "../../core/policy/action-hash";
import { InvalidManifestError, ManifestConflictError } from "../../core/policy/manifest-repository";
import { foldText } from "../../core/policy/normalize";
import { TokenIssueError } from "../../core/policy/tokens/capability-tokens";
import type { Action, Manifest, ManifestInput, ManifestStatus } from "../../core/policy/types";
import { requireOperatorOf } from "../../http/boundary/org-scope";
import type { HandlerGroup } from "../../http/handlers";
import { decodeTimeCursor, encodeTimeCursor, pageOf, storePageOf } from "../../http/paging";
import { HttpProblem, problem } from "../../http/problem";

type Schemas = components["schemas"];

export interface ActionsHandlerDeps {
  /** The governance engine (src/core/governance): these handlers only map HTTP to it and back. */
  actions: GovernanceEngine;
}

/** The org an agent acts in: the org of its API key. */
function agentOrg(principal: Principal): string {
  if (principal.kind === "api_key") return principal.orgId;
  throw problem("UNAUTHORIZED", "Invalid or missing API key");
}

/** Operators of the org only (same rule and problem codes as the oversight API); returns who acts. */
function requireOrg(principal: Principal, orgId: string): string {
  return requireOperatorOf(principal, orgId);
}

/** Maps the service's domain errors to problems; anything else is a 500 from the error middleware. */
async function mapErrors<T>(run: () => Promise<T> | T): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ActionConflictError) throw new HttpProblem(409, err.message, { code: err.code, ...err.details });
    if (err instanceof OutcomePendingError)
      throw new HttpProblem(503, err.message, { code: err.code, interaction_id: err.interaction_id });
    if (err instanceof ActionUnavailableError) throw new HttpProblem(503, err.message, { code: err.code });
    if (err instanceof ParamsTooLargeError) {
      const pointer = `/body${err.pointer}`;
      throw new HttpProblem(400, `Request is invalid: ${pointer}: ${err.message}`, {
        code: "VALIDATION_FAILED",
        errors: [{ pointer, message: err.message }],
      });
    }
    if (err instanceof InvalidManifestError)
      throw new HttpProblem(400, err.message, { code: "INVALID_MANIFEST", errors: err.problems });
    if (err instanceof ManifestConflictError) throw new HttpProblem(409, err.message, { code: "MANIFEST_CONFLICT" });
    if (err instanceof TokenIssueError)
      throw new HttpProblem(400, err.message, { code: "INVALID_TOKEN_REQUEST", errors: err.problems });
    throw err;
  }
}

/** A PUT body may repeat its manifest's id (a GitOps file keeps it), never name another manifest. */
function sameManifestId(bodyId: string | undefined, pathId: string): void {
  if (bodyId === undefined || bodyId === pathId) return;
  const message = `'${bodyId}' is not the manifest of the path`;
  throw new HttpProblem(400, `Request is invalid: /body/manifest_id: ${message}`, {
    code: "VALIDATION_FAILED",
    errors: [{ pointer: "/body/manifest_id", message }],
  });
}

const log = logger.child({ module: "actions" });

const toAction = (a: Schemas["Action"]): Action => a as Action;

/**
 * The request as an API-key caller may send it: its `context` must not claim one of the gateway's own channels.
 * On those (MCP, agent sessions) the gateway sets `context.user` from a person's verified token, and an approval
 * asked there is bound to that person on that channel; a REST body claiming the same channel and user would
 * otherwise match it and use a person's approval with the org's API key.
 */
function withoutGatewayChannel<T extends { context?: Record<string, unknown> }>(body: T): T {
  const channel = body.context?.channel;
  // In any spelling: an audit reader takes `MCP` or `ｍｃｐ` for the gateway's own channel as surely as `mcp`.
  const folded = typeof channel === "string" ? foldText(channel) : channel;
  if (!GATEWAY_CHANNELS.has(folded)) return body;
  const message = `'${String(channel)}' is set by the gateway on its own MCP and agent-session channels; a REST call cannot claim it`;
  throw new HttpProblem(400, `Request is invalid: /body/context/channel: ${message}`, {
    code: "VALIDATION_FAILED",
    errors: [{ pointer: "/body/context/channel", message }],
  });
}

/** Indexes of the actions whose `action_id` an earlier action of the batch already used. */
function duplicateActionIds(actions: { action_id: string }[]): number[] {
  const seen = new Set<string>();
  const duplicates: number[] = [];
  actions.forEach(({ action_id }, index) => {
    if (seen.has(action_id)) duplicates.push(index);
    seen.add(action_id);
  });
  return duplicates;
}

export function actionsHandlers({ actions }: ActionsHandlerDeps) {
  return { ...gatewayHandlers(actions), ...tokenHandlers(actions), ...manifestHandlers(actions) };
}

/** Gateway_*: what agents call (execute, evaluate, batch) and the gateway's health. */
function gatewayHandlers(actions: GovernanceEngine) {
  return {
    Gateway_execute: async (req) => {
      const orgId = agentOrg(req.principal);
      const body = withoutGatewayChannel(req.body);
      const response = await mapErrors(() =>
        actions.execute(orgId, { ...body, action: toAction(body.action) }, { meta: { request_id: req.requestId } }),
      );
      return { status: 200, body: response as Schemas["ExecuteResponse"] };
    },

    Gateway_evaluate: async (req) => {
      const orgId = agentOrg(req.principal);
      const response = await mapErrors(() =>
        actions.evaluate(orgId, { ...withoutGatewayChannel(req.body), action: toAction(req.body.action) }),
      );
      return { status: 200, body: response as Schemas["EvaluateResponse"] };
    },

    Gateway_batch: async (req) => {
      const orgId = agentOrg(req.principal);
      withoutGatewayChannel(req.body);
      // action_id is how the client correlates results; two actions with one id make that impossible.
      const duplicates = duplicateActionIds(req.body.actions);
      if (duplicates.length > 0)
        throw new HttpProblem(400, `Request is invalid: action_id must be unique within a batch`, {
          code: "VALIDATION_FAILED",
          errors: duplicates.map((index) => ({
            pointer: `/body/actions/${index}/action_id`,
            message: `action_id '${req.body.actions[index]?.action_id}' is already used by an earlier action`,
          })),
        });
      const response = await mapErrors(() =>
        actions.batch(orgId, req.body as Parameters<GovernanceEngine["batch"]>[1], { signal: req.signal }),
      );
      return { status: 200, body: response as Schemas["BatchResponse"] };
    },

    Gateway_health: async () => {
      const health = await actions.health();
      if (health.status !== "healthy")
        throw new HttpProblem(503, `Gateway unhealthy: database ${health.database}`, { code: "DATABASE_UNAVAILABLE" });
      return { status: 200, body: health };
    },
  } satisfies HandlerGroup;
}

/** CapabilityTokens_*: operators issue, list and revoke agents' capability tokens. */
/** Tokens per page of CapabilityTokens_list when the request names no `limit` (the spec's default). */
const DEFAULT_TOKENS_PAGE = 100;

/** The token a list page ended at, from the cursor that page carried (another list's cursor is a 400). */
function tokenPositionOf(cursor: string): { issued_at: string; token_id: string } {
  const { created_at, id } = decodeTimeCursor(cursor, "token_id");
  return { issued_at: created_at, token_id: id };
}

function tokenHandlers(actions: GovernanceEngine) {
  return {
    CapabilityTokens_issue: async (req) => {
      const orgId = req.params.org_id;
      const operator = requireOrg(req.principal, orgId);
      const body = req.body;
      const manifest = body.manifest_id
        ? await actions.manifests.get(orgId, body.manifest_id)
        : body.uapk_id
          ? await actions.manifests.getByUapkId(orgId, body.uapk_id)
          : undefined;
      if (!body.manifest_id && !body.uapk_id)
        throw new HttpProblem(400, "Cannot issue capability token: manifest_id or uapk_id is required", {
          code: "INVALID_TOKEN_REQUEST",
          errors: [{ pointer: "/manifest_id", message: "give manifest_id or uapk_id" }],
        });
      if (!manifest)
        throw new HttpProblem(404, `Manifest '${body.manifest_id ?? body.uapk_id}' not found`, {
          code: "MANIFEST_NOT_FOUND",
        });
      // Both given: they must name one manifest, or the operator gets a token for another agent than they wrote.
      if (body.manifest_id && body.uapk_id !== undefined && body.uapk_id !== manifest.uapk_id)
        throw new HttpProblem(400, "Cannot issue capability token: manifest_id and uapk_id name different manifests", {
          code: "INVALID_TOKEN_REQUEST",
          errors: [
            {
              pointer: "/uapk_id",
              message: `manifest '${body.manifest_id}' is uapk_id '${manifest.uapk_id}', not '${body.uapk_id}'`,
            },
          ],
        });
      // issuer_id (the JWT's iss) is a label the caller may choose; who is accountable is the operator, issued_by.
      const issuerId = body.issuer_id ?? operator;
      const issued = await mapErrors(() =>
        actions.tokens.issue({
          orgId,
          issuerId,
          issuedBy: operator,
          agentId: body.agent_id,
          manifest,
          capabilities: body.capabilities,
          expiresInHours: body.expires_in_hours,
          constraints: body.constraints,
        }),
      );
      log.info(
        {
          orgId,
          tokenId: issued.token_id,
          issuedBy: operator,
          issuerId,
          agentId: body.agent_id,
          uapkId: manifest.uapk_id,
        },
        "capability token issued",
      );
      return { status: 201, body: issued };
    },

    CapabilityTokens_list: async (req) => {
      requireOrg(req.principal, req.params.org_id);
      const limit = req.query.limit ?? DEFAULT_TOKENS_PAGE;
      // Paged in the store (an org may issue a token per task); one token more tells whether a page follows.
      const rows = await actions.tokens.list(req.params.org_id, {
        agentId: req.query.agent_id,
        uapkId: req.query.uapk_id,
        includeInactive: req.query.include_inactive,
        limit: limit + 1,
        ...(req.query.cursor !== undefined ? { after: tokenPositionOf(req.query.cursor) } : {}),
      });
      const page = storePageOf(
        rows,
        limit,
        (t) => t,
        (last) => encodeTimeCursor(last.issued_at, "token_id", last.token_id),
      );
      return { status: 200, body: page };
    },

    CapabilityTokens_revoke: async (req) => {
      const operator = requireOrg(req.principal, req.params.org_id);
      const reason = req.body?.reason;
      const info = await actions.tokens.revoke(req.params.org_id, req.params.token_id, operator, reason);
      if (!info)
        throw new HttpProblem(404, `Capability token '${req.params.token_id}' not found`, { code: "TOKEN_NOT_FOUND" });
      // Revoking twice keeps the first revocation: the log names who asked and who revoked.
      log.info(
        { orgId: req.params.org_id, tokenId: info.token_id, requestedBy: operator, revokedBy: info.revoked_by },
        "capability token revoked",
      );
      return {
        status: 200,
        body: {
          token_id: info.token_id,
          revoked: true,
          revoked_at: info.revoked_at!,
          ...(info.revoked_by ? { revoked_by: info.revoked_by } : {}),
          ...(info.revoke_reason ? { reason: info.revoke_reason } : {}),
        },
      };
    },
  } satisfies HandlerGroup;
}

/** Manifests_*: operators register manifests, read their versions and move them through their lifecycle. */
function manifestHandlers(actions: GovernanceEngine) {
  const manifestOr404 = async (orgId: string, manifestId: string): Promise<Manifest> => {
    const m = await actions.manifests.get(orgId, manifestId);
    if (!m) throw new HttpProblem(404, `Manifest '${manifestId}' not found`, { code: "MANIFEST_NOT_FOUND" });
    return m;
  };
  const lifecycle =
    (status: ManifestStatus) =>
    async (req: { principal: Principal; params: { org_id: string; manifest_id: string } }) => {
      const author = requireOrg(req.principal, req.params.org_id);
      await manifestOr404(req.params.org_id, req.params.manifest_id);
      const updated = await mapErrors(() =>
        actions.manifests.setStatus(req.params.org_id, req.params.manifest_id, status, author),
      );
      return { status: 200 as const, body: updated as Schemas["Manifest"] };
    };

  return {
    Manifests_register: async (req) => {
      const author = requireOrg(req.principal, req.params.org_id);
      const manifest = await mapErrors(() =>
        actions.manifests.register(req.params.org_id, req.body as ManifestInput, author),
      );
      return { status: 201, body: manifest as Schemas["Manifest"] };
    },

    Manifests_update: async (req) => {
      const author = requireOrg(req.principal, req.params.org_id);
      const { org_id: orgId, manifest_id: manifestId } = req.params;
      // An unknown manifest is 404 whatever the body (as on the other routes naming one); decided again when written.
      await manifestOr404(orgId, manifestId);
      sameManifestId(req.body.manifest_id, manifestId);
      const updated = await mapErrors(() =>
        actions.manifests.update(orgId, manifestId, req.body as ManifestInput, author),
      );
      if (!updated) throw new HttpProblem(404, `Manifest '${manifestId}' not found`, { code: "MANIFEST_NOT_FOUND" });
      return { status: 200, body: updated as Schemas["Manifest"] };
    },

    Manifests_list: async (req) => {
      requireOrg(req.principal, req.params.org_id);
      const all = (await actions.manifests.list(req.params.org_id, req.query.status)) as Schemas["Manifest"][];
      return { status: 200, body: pageOf(all, (m) => m.manifest_id, req.query) };
    },

    Manifests_get: async (req) => {
      requireOrg(req.principal, req.params.org_id);
      const manifest = await manifestOr404(req.params.org_id, req.params.manifest_id);
      return { status: 200, body: manifest as Schemas["Manifest"] };
    },

    Manifests_versions: async (req) => {
      requireOrg(req.principal, req.params.org_id);
      // Another org's manifest id is not found, exactly like an id nobody uses.
      const items = await actions.manifests.versions(req.params.org_id, req.params.manifest_id);
      if (!items)
        throw new HttpProblem(404, `Manifest '${req.params.manifest_id}' not found`, { code: "MANIFEST_NOT_FOUND" });
      return { status: 200, body: { items } };
    },

    Manifests_getVersion: async (req) => {
      requireOrg(req.principal, req.params.org_id);
      await manifestOr404(req.params.org_id, req.params.manifest_id);
      const version = await actions.manifests.version(req.params.org_id, req.params.manifest_id, req.params.version);
      if (!version)
        throw new HttpProblem(404, `Manifest '${req.params.manifest_id}' has no version ${req.params.version}`, {
          code: "MANIFEST_VERSION_NOT_FOUND",
        });
      return { status: 200, body: version };
    },

    Manifests_activate: lifecycle("active"),
    Manifests_suspend: lifecycle("suspended"),
    Manifests_revoke: lifecycle("revoked"),
  } satisfies HandlerGroup;
}
