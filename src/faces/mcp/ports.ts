// What the MCP face needs from the rest of Gatehouse, as ports wired by the composition root (src/server.ts):
// the governance engine and the approvals store of core, the spec's request validators, and the puruto
// commands of the discovery face (reached through a port: a face never imports another face).
import type { GovernanceEngine } from "../../core/governance";
import type { Principal } from "../../core/identity/principal";
import type { ApprovalsService } from "../../core/ports";

/** `tokens`: a session's capability token is verified at initialize and scopes what tools/list shows. */
export type McpEngine = Pick<GovernanceEngine, "execute" | "manifests"> & {
  tokens: Pick<GovernanceEngine["tokens"], "verify">;
};
export type McpApprovals = Pick<ApprovalsService, "getForAgent" | "waitForDecision">;

/**
 * The REST rate limits (src/http/rate-limit.ts), which each MCP tool call counts against too: one request of the
 * caller's API key, and a governed call one action of its agent (REST and MCP share one budget). The refusal
 * (RATE_LIMIT_EXCEEDED, or REDIS_UNAVAILABLE when the shared counters cannot be read), or undefined.
 */
export interface McpRequestLimits {
  consume(
    principal: Principal,
    agent?: { orgId: string; agentId: string },
    /** How many requests of the key this is (a JSON-RPC batch counts each of its requests): 1 unless said. */
    requests?: number,
  ): Promise<{ code: string; message: string; retryAfterSeconds: number } | undefined>;
}

/** One refused part of a request: where (a JSON pointer) and why. */
export interface InputProblem {
  pointer: string;
  message: string;
}

/** Checks a request body against the spec's schema of a REST operation; undefined when it is valid. */
export type BodyValidator = (body: unknown) => InputProblem[] | undefined;

export interface PurutoCommandInfo {
  name: string;
  description?: string;
}

export interface PurutoInfo {
  name: string;
  description?: string;
  /** The allowed commands only (the discovery face's allow list). */
  commands: PurutoCommandInfo[];
}

/** The answer of a puruto command, or why it was refused (unknown puruto, command not allowed). */
export type PurutoCommandAnswer =
  | {
      ok: true;
      invocation: {
        status: "ok" | "error";
        result?: Record<string, unknown>;
        error?: { code: string; message: string };
      };
    }
  | { ok: false; code: string; message: string };

/** The discovery face's purutos and invoker, as the MCP face uses them (same allow list and limits as REST). */
export interface PurutoCommands {
  list(): Promise<PurutoInfo[]>;
  invoke(request: {
    name: string;
    command: string;
    payload: Record<string, unknown>;
    /** The HTTP request's X-Request-Id and X-Correlation-Id; the invoker generates any missing or unsafe one. */
    requestId?: string;
    correlationId?: string | undefined;
    signal: AbortSignal;
  }): Promise<PurutoCommandAnswer>;
}
