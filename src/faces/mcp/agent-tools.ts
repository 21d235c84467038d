// `/mcp/agents/{uapk_id}`: the tools of one agent's manifest, each tools/call a governed action through the
// engine's `execute` — decided, reserved, run and audited exactly as POST /api/v1/gateway/execute, with the MCP
// session in the audit record's context. ESCALATE waits (sending progress notifications) for the approval up
// to `approvalWaitMs`, runs the call once approved, and otherwise answers "pending" with the approval_id.
import type { CallToolRequest, CallToolResult, ServerNotification, Tool } from "@modelcontextprotocol/sdk/types.js";
import {
  ActionConflictError,
  ActionUnavailableError,
  type ExecuteRequest,
  type ExecuteResponse,
  ParamsTooLargeError,
} from "../../core/governance";
import type { Principal } from "../../core/identity/principal";
import { clipped } from "../../core/policy/clip";
import type { Manifest } from "../../core/policy/types";
import { breaksIdRule, ID_PATTERN_MESSAGE } from "../../http/control-characters";
import type { McpOptions } from "./options";
import type { BodyValidator, McpApprovals, McpEngine, McpRequestLimits } from "./ports";
import { boundaryRequestId, type RequestHeaders, recordedRequestId } from "./request-ids";
import { approvalEnded, executeResult, limitRefused, refused } from "./results";
import {
  ACTION_FIELDS,
  type AmountBounds,
  APPROVAL_STATUS_TOOL,
  approvalStatusTool,
  capabilitiesByToolName,
  capabilityForToolName,
  LEGACY_APPROVAL_STATUS_TOOL,
  manifestTools,
} from "./tool-catalog";

/** Who calls, for which agent, in which MCP session. */
export interface AgentSession {
  orgId: string;
  uapkId: string;
  sessionId: string;
  /** Who opened the session (its API key, or the person's token): whose rate limit each call counts against. */
  principal: Principal;
  /** The person's `sub` when a bearer token opened the session (bound into approvals as `context.user`). */
  user?: string;
  /** Capability token given for the whole session (header X-Capability-Token at initialize). */
  capabilityToken?: string;
}

/** What a request handler gets from the SDK that this face uses. */
export interface CallExtra extends RequestHeaders {
  signal: AbortSignal;
  requestId: string | number;
  _meta?: Record<string, unknown>;
  sendNotification(notification: ServerNotification): Promise<void>;
}

export interface AgentToolsDeps {
  engine: McpEngine;
  approvals: McpApprovals;
  /** The spec's validator of Gateway_execute bodies: MCP arguments obey the REST request's rules. */
  validateExecuteBody: BodyValidator;
  /** REST's bounds on an action's amount (the same validator enforces them), stated in each tool's input schema. */
  amountBounds: AmountBounds;
  /** REST's rate limits: every tools/call counts against the caller's API key, a governed one its agent's too. */
  limits: McpRequestLimits;
  options: Pick<McpOptions, "approvalWaitMs" | "progressIntervalMs">;
}

/** REST's bound on the approval_id path parameter (spec/gateway.tsp getApproval). */
const MAX_APPROVAL_ID_LENGTH = 256;

/** The arguments of a manifest tool: the REST action without type/tool. */
const ARGUMENTS: readonly string[] = ["params", ...ACTION_FIELDS];
const META_KEYS = ["capability_token", "idempotency_key", "approval_id"] as const;
type CallMeta = Partial<Record<(typeof META_KEYS)[number], string>>;

function metaOf(meta: Record<string, unknown> | undefined): CallMeta | { error: string } {
  const out: CallMeta = {};
  for (const key of META_KEYS) {
    const value = meta?.[key];
    if (value === undefined) continue;
    if (typeof value !== "string" || value === "" || value.length > 8192)
      return { error: `_meta.${key} must be a non-empty string` };
    out[key] = value;
  }
  return out;
}

/**
 * The manifest tools a session may use: none while the manifest is not active, and with a session token only its
 * capabilities (none once it no longer verifies: expired, revoked). A convenience for the model, not the check: the
 * policy still decides every call, whatever it names (a tool not listed included).
 */
async function visibleTools(
  deps: AgentToolsDeps,
  session: AgentSession,
  manifest: Manifest | undefined,
): Promise<readonly Tool[]> {
  if (manifest?.status !== "active") return [];
  const tools = manifestTools(manifest, deps.amountBounds);
  if (!session.capabilityToken) return tools;
  const expected = { orgId: session.orgId, agentId: manifest.agent.id, uapkId: session.uapkId };
  const verified = await deps.engine.tokens.verify(session.capabilityToken, expected);
  if (!verified.ok) return [];
  // By capability (the listed name's own), never by name: look-alike names map to distinct capabilities.
  const allowed = new Set(verified.claims.cap);
  const capabilities = capabilitiesByToolName(manifest);
  return tools.filter((tool) => allowed.has(capabilities.get(tool.name) ?? ""));
}

/** Why the approval status tool's approval_id is refused, if it is: a non-empty string held to REST's id rule. */
function approvalIdRefusal(approvalId: unknown): CallToolResult | undefined {
  const problem = typeof approvalId === "string" ? approvalIdProblem(approvalId) : "must be a non-empty string";
  if (problem === undefined) return undefined;
  return refused("VALIDATION_FAILED", `approval_id ${problem}`, [
    { pointer: "/arguments/approval_id", message: problem },
  ]);
}

/**
 * What the audit record's meta says of the call's transport: the MCP session, the client's JSON-RPC id (bounded,
 * ./request-ids.ts) and the HTTP request's id, as REST records it (`request_id`).
 */
function auditMetaOf(session: AgentSession, extra: CallExtra): Record<string, unknown> {
  const requestId = boundaryRequestId(extra);
  return Object.assign(
    { channel: "mcp", mcp_session_id: session.sessionId },
    recordedRequestId(extra.requestId),
    requestId === undefined ? {} : { request_id: requestId },
  );
}

/**
 * Why `approvalId` is not an approval id REST would read (`GET /api/v1/gateway/approvals/{approval_id}`: at most 256
 * characters, none a control, line-separator, bidi or invisible one — the spec's id rule), or undefined. Look-alike
 * letters (a Cyrillic `а`) pass, as on REST: an id is compared exactly, so they find no approval.
 */
function approvalIdProblem(approvalId: string): string | undefined {
  if (approvalId === "") return "must be a non-empty string";
  if (approvalId.length > MAX_APPROVAL_ID_LENGTH) return `must be at most ${MAX_APPROVAL_ID_LENGTH} characters`;
  return breaksIdRule(approvalId) ? ID_PATTERN_MESSAGE : undefined;
}

export function createAgentTools(deps: AgentToolsDeps) {
  const manifestOf = async (s: AgentSession): Promise<Manifest | undefined> =>
    deps.engine.manifests.getByUapkId(s.orgId, s.uapkId);

  async function listTools(session: AgentSession): Promise<Tool[]> {
    return [...(await visibleTools(deps, session, await manifestOf(session))), approvalStatusTool];
  }

  /** The REST execute body this call stands for, or why it cannot be one. */
  async function requestFor(
    session: AgentSession,
    params: CallToolRequest["params"],
  ): Promise<ExecuteRequest | CallToolResult> {
    const manifest = await manifestOf(session);
    const action = capabilityForToolName(manifest, params.name);
    // The name quoted clipped and visibly (src/core/policy/clip.ts), as REST's reasons quote what an agent sent.
    if (!action)
      return refused("UNKNOWN_TOOL", `Unknown tool '${clipped(params.name)}': call a tool that tools/list names`);
    const args = (params.arguments ?? {}) as Record<string, unknown>;
    const unknown = Object.keys(args).find((k) => !ARGUMENTS.includes(k));
    if (unknown !== undefined)
      return refused(
        "VALIDATION_FAILED",
        `Unknown argument '${clipped(unknown)}': the tool's own parameters go under 'params'`,
        [{ pointer: `/arguments/${clipped(unknown)}`, message: `allowed: ${ARGUMENTS.join(", ")}` }],
      );
    const meta = metaOf(params._meta as Record<string, unknown> | undefined);
    if ("error" in meta) return refused("VALIDATION_FAILED", meta.error);
    const token = meta.capability_token ?? session.capabilityToken;
    // Object.assign, not `{ ...args, … }`: the same own keys in the same order (each one of ARGUMENTS, checked
    // above, so never `__proto__`). Spreading the JSON-parsed arguments was 1.4% of the MCP line's CPU in
    // bench/profile.ts (this one line); ~1.7 µs a call against ~0.1 µs in a Node 20 micro-benchmark.
    const callAction = Object.assign({}, args);
    callAction.type = action.type;
    callAction.tool = action.tool;
    // `params` as the caller sent it: null or missing is refused below, as REST refuses it (no run with no params).
    const body = {
      uapk_id: session.uapkId,
      agent_id: manifest?.agent.id ?? session.uapkId,
      action: callAction,
      ...(token ? { capability_token: token } : {}),
      ...(meta.idempotency_key ? { idempotency_key: meta.idempotency_key } : {}),
      ...(meta.approval_id ? { approval_id: meta.approval_id } : {}),
      // Not part of an approval's binding except `user`: one person's approval never releases another's call.
      context: { channel: "mcp", mcp_session_id: session.sessionId, ...(session.user ? { user: session.user } : {}) },
    };
    const problems = deps.validateExecuteBody(body);
    if (problems)
      return refused("VALIDATION_FAILED", problems.map((p) => `${p.pointer}: ${p.message}`).join("; "), problems);
    return body as unknown as ExecuteRequest; // just validated against the spec's ExecuteRequest
  }

  async function execute(
    session: AgentSession,
    request: ExecuteRequest,
    extra: CallExtra,
  ): Promise<ExecuteResponse | CallToolResult> {
    try {
      return await deps.engine.execute(session.orgId, request, { meta: auditMetaOf(session, extra) });
    } catch (err) {
      if (err instanceof ActionConflictError) return refused(err.code, err.message, undefined, err.details);
      if (err instanceof ActionUnavailableError) return refused(err.code, err.message);
      // The engine's bound on what params may hold (nothing judged or audited): bad input, as over REST.
      if (err instanceof ParamsTooLargeError) return refused("VALIDATION_FAILED", `/arguments/params: ${err.message}`);
      throw err;
    }
  }

  /** Waits for the approval in slices, a progress notification per slice; runs the call once approved. */
  async function awaitApproval(
    session: AgentSession,
    request: ExecuteRequest,
    pending: ExecuteResponse,
    extra: CallExtra,
  ): Promise<CallToolResult> {
    const approvalId = pending.approval_id!;
    const deadline = Date.now() + deps.options.approvalWaitMs;
    const progressToken = extra._meta?.progressToken as string | number | undefined;
    for (let step = 1; ; step++) {
      if (progressToken !== undefined)
        await extra
          .sendNotification({
            method: "notifications/progress",
            params: { progressToken, progress: step, message: `Waiting for human approval ${approvalId}` },
          })
          .catch(() => undefined); // a client that went away is noticed through the signal
      const remaining = deadline - Date.now();
      if (remaining <= 0 || extra.signal.aborted) return executeResult(pending);
      const approval = await deps.approvals.waitForDecision(
        session.orgId,
        approvalId,
        Math.min(remaining, deps.options.progressIntervalMs),
        extra.signal,
      );
      if (!approval) return approvalEnded(approvalId, "not found", pending);
      if (approval.status === "pending") continue;
      if (approval.status === "denied" || approval.status === "expired")
        return approvalEnded(approvalId, approval.status, pending);
      // Approved (or spent by an identical call: the policy then decides again and may ask for a new approval).
      const { idempotency_key: _firstKey, ...rest } = request;
      const answer = await execute(session, { ...rest, approval_id: approvalId }, extra);
      return "content" in answer ? answer : executeResult(answer);
    }
  }

  async function approvalStatus(session: AgentSession, args: Record<string, unknown>): Promise<CallToolResult> {
    const invalid = approvalIdRefusal(args.approval_id);
    if (invalid) return invalid;
    const approvalId = args.approval_id as string;
    const agentId = (await manifestOf(session))?.agent.id ?? session.uapkId;
    const view = await deps.approvals.getForAgent(session.orgId, approvalId, agentId);
    if (!view) return refused("APPROVAL_NOT_FOUND", `Approval '${clipped(approvalId)}' not found`);
    return {
      content: [{ type: "text", text: `Approval ${approvalId} is ${view.status}` }],
      structuredContent: { ...view },
      isError: false,
    };
  }

  async function callTool(
    session: AgentSession,
    params: CallToolRequest["params"],
    extra: CallExtra,
  ): Promise<CallToolResult> {
    if (params.name === APPROVAL_STATUS_TOOL || params.name === LEGACY_APPROVAL_STATUS_TOOL) {
      // As REST's GET of an approval: one request of the API key.
      const limited = await deps.limits.consume(session.principal);
      if (limited) return limitRefused(limited);
      return approvalStatus(session, (params.arguments ?? {}) as Record<string, unknown>);
    }
    const request = await requestFor(session, params);
    if ("content" in request) return request;
    // As REST's execute (after its body is validated): one request of the API key, one action of the agent.
    const limited = await deps.limits.consume(session.principal, { orgId: session.orgId, agentId: request.agent_id });
    if (limited) return limitRefused(limited);
    const answer = await execute(session, request, extra);
    if ("content" in answer) return answer;
    if (answer.decision === "ESCALATE" && answer.approval_id && deps.options.approvalWaitMs > 0)
      return awaitApproval(session, request, answer, extra);
    return executeResult(answer);
  }

  return { listTools, callTool };
}

export type AgentTools = ReturnType<typeof createAgentTools>;
