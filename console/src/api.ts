// The console's access to Gatehouse: the generated typed client (openapi-fetch) with the operator's bearer
// token, the token's claims (read, not verified: the server verifies every call), and the approvals feed.
import { createGatehouseClient, type components } from "../../generated/client";

export type Approval = components["schemas"]["Approval"];
export type InteractionRecord = components["schemas"]["InteractionRecord"];
export type ChainVerification = components["schemas"]["ChainVerification"];
export type Manifest = components["schemas"]["Manifest"];
export type CapabilityTokenInfo = components["schemas"]["CapabilityTokenInfo"];
export type PurutoItem = components["schemas"]["PurutoItem"];
export type Problem = { title?: string; detail?: string; code?: string; status?: number };

export type Client = ReturnType<typeof createGatehouseClient>;

export interface Session {
  token: string;
  org: string;
  sub: string;
  roles: string[];
  client: Client;
}

const STORAGE_KEY = "gatehouse.console.token";

/** The JWT's payload, or undefined when the text is not a JWT. */
export function claimsOf(token: string): { sub?: string; org?: string; roles?: string[] } | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

export function sessionFor(token: string): Session | undefined {
  const claims = claimsOf(token);
  if (!claims?.sub || !claims.org) return undefined;
  const client = createGatehouseClient({ baseUrl: window.location.origin, token });
  return { token, org: claims.org, sub: claims.sub, roles: claims.roles ?? [], client };
}

/** The token is kept for this browser tab only (sessionStorage), never in a cookie. */
export const tokenStore = {
  load: (): string | null => sessionStorage.getItem(STORAGE_KEY),
  save: (token: string) => sessionStorage.setItem(STORAGE_KEY, token),
  clear: () => sessionStorage.removeItem(STORAGE_KEY),
};

/** A problem+json body (or anything else the server said) as one readable line. */
export function describeProblem(error: unknown, status?: number): string {
  const problem = (error ?? {}) as Problem;
  const text = problem.detail ?? problem.title ?? (typeof error === "string" ? error : undefined);
  return text
    ? `${text}${problem.code ? ` (${problem.code})` : ""}`
    : `Request failed${status ? ` (HTTP ${status})` : ""}`;
}

export interface FeedHandlers {
  onReady(): void;
  onApproval(approval: Approval): void;
  onState(state: "live" | "reconnecting"): void;
}

/**
 * Follows the server-sent approvals feed. Read with fetch and a streaming body rather than EventSource,
 * which cannot send the Authorization header. Reconnects after a pause when the stream ends.
 */
export function followApprovals(session: Session, handlers: FeedHandlers): () => void {
  const stop = new AbortController();
  const url = `/api/v1/orgs/${encodeURIComponent(session.org)}/approvals/events`;

  async function readOnce(): Promise<void> {
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${session.token}`, accept: "text/event-stream" },
      signal: stop.signal,
    });
    if (!response.ok || !response.body) throw new Error(`feed answered ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  function dispatch(frame: string): void {
    let event = "message";
    const data: string[] = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (event === "ready") {
      handlers.onState("live");
      handlers.onReady();
    } else if (event === "approval") {
      handlers.onApproval(JSON.parse(data.join("\n")) as Approval);
    }
  }

  (async () => {
    while (!stop.signal.aborted) {
      try {
        await readOnce();
      } catch {
        // network error or the server restarting: try again shortly
      }
      if (stop.signal.aborted) return;
      handlers.onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  })();
  return () => stop.abort();
}

export type LiveSession = components["schemas"]["LiveSession"];
export type Webhook = components["schemas"]["Webhook"];
export type WebhookDelivery = components["schemas"]["WebhookDelivery"];
