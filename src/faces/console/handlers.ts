// The approvals feed as a server-sent-events response (spec/console.tsp, ApprovalEvents_stream).
import { PassThrough } from "node:stream";
import type { components } from "../../../generated/api-types";
import type { Principal } from "../../core/identity/principal";
import { requireOperatorOf } from "../../http/boundary/org-scope";
import type { HandlerGroup } from "../../http/handlers";
import { timePageOf } from "../../http/paging";
import type { ApprovalRenderer } from "../../http/wire-models";
import type { ApprovalEvents } from "./approval-events";

/** The sessions face's live sessions, as a port (a face never imports another face). */
export interface LiveSessionsPort {
  list(orgId: string): Promise<components["schemas"]["LiveSession"][]>;
}

const KEEP_ALIVE_MS = 15_000;

export interface ConsoleHandlerDeps {
  events: ApprovalEvents;
  /** Approvals as the API shows them: their tool's redaction applied (wire-models.ts). */
  renderApproval: ApprovalRenderer;
  sessions?: LiveSessionsPort;
}

function sseFrame(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}

/** Longest delay setTimeout takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `onExpired` when the token behind the request expires (`exp`, seconds), re-arming past setTimeout's
 * limit; returns the cancel. The token was checked once, when the stream opened: without this, an operator
 * whose token had expired kept receiving the org's approvals for as long as the connection lasted.
 */
function atTokenExpiry(principal: Principal, onExpired: () => void): () => void {
  if (principal.kind !== "user" || principal.exp === undefined) return () => {};
  const expiresAt = principal.exp * 1000;
  let timer: NodeJS.Timeout;
  // Never synchronously: the caller finishes setting the stream up first, even for a token expiring right now.
  const arm = () => {
    timer = setTimeout(fire, Math.min(Math.max(0, expiresAt - Date.now()), MAX_TIMER_MS));
    timer.unref();
  };
  const fire = () => (Date.now() >= expiresAt ? onExpired() : arm());
  arm();
  return () => clearTimeout(timer);
}

export function consoleHandlers({ events, sessions, renderApproval }: ConsoleHandlerDeps) {
  return {
    LiveSessions_list: async ({ params, query, principal }) => {
      requireOperatorOf(principal, params.org_id);
      // Newest first; a session that ends between two pages does not invalidate the cursor (a time position).
      const live = (await sessions?.list(params.org_id)) ?? [];
      return { status: 200, body: timePageOf(live, { idKey: "session_id", order: "newest-first" }, query) };
    },

    ApprovalEvents_stream: ({ params, principal, signal }) => {
      requireOperatorOf(principal, params.org_id);
      const stream = new PassThrough();
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        clearInterval(keepAlive);
        cancelExpiry();
        unsubscribe();
        stream.end();
      };
      // Rendering may wait on the store (the tool's manifest): one after another, so frames keep the events' order;
      // a store that fails ends the stream (the console reconnects) rather than skipping an approval unseen.
      let rendered = Promise.resolve();
      // The feed ends the stream when the gateway shuts down, so an open console never holds the server open.
      const unsubscribe = events.subscribe(
        params.org_id,
        (approval) => {
          rendered = rendered
            .then(() => renderApproval(approval))
            .then((view) => {
              if (!ended) stream.write(sseFrame("approval", JSON.stringify(view)));
            })
            .catch(end);
        },
        end,
      );
      const keepAlive = setInterval(() => stream.write(": keep-alive\n\n"), KEEP_ALIVE_MS);
      keepAlive.unref();
      const cancelExpiry = atTokenExpiry(principal, end);
      signal.addEventListener("abort", end, { once: true });
      stream.once("close", end);
      stream.write(sseFrame("ready", ""));
      return {
        status: 200,
        // The spec describes the stream's content as text; the HTTP layer sends a stream body as it comes.
        body: stream as unknown as string,
        // `connection: close`: when the stream ends (the gateway stops), its socket goes with it at once.
        headers: {
          "content-type": "text/event-stream",
          "cache-control": "no-store",
          "x-accel-buffering": "no",
          connection: "close",
        },
      };
    },
  } satisfies HandlerGroup;
}
