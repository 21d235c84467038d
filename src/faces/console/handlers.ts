// The approvals feed as a server-sent-events response (spec/console.tsp, ApprovalEvents_stream).
import { PassThrough } from "node:stream";
import type { HandlerGroup } from "../../http/handlers";
import { timePageOf } from "../../http/paging";
import { toApproval } from "../../http/wire-models";
import { requireOperatorOf } from "../../http/boundary/org-scope";
import type { ApprovalEvents } from "./approval-events";
import type { components } from "../../../generated/api-types";

/** The sessions face's live sessions, as a port (a face never imports another face). */
export interface LiveSessionsPort {
  list(orgId: string): components["schemas"]["LiveSession"][];
}

const KEEP_ALIVE_MS = 15_000;

export interface ConsoleHandlerDeps {
  events: ApprovalEvents;
  sessions?: LiveSessionsPort;
}

function sseFrame(event: string, data: string): string {
  return `event: ${event}\ndata: ${data}\n\n`;
}

export function consoleHandlers({ events, sessions }: ConsoleHandlerDeps) {
  return {
    LiveSessions_list: ({ params, query, principal }) => {
      requireOperatorOf(principal, params.org_id);
      // Newest first; a session that ends between two pages does not invalidate the cursor (a time position).
      const live = sessions?.list(params.org_id) ?? [];
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
        unsubscribe();
        stream.end();
      };
      // The feed ends the stream when the gateway shuts down, so an open console never holds the server open.
      const unsubscribe = events.subscribe(
        params.org_id,
        (approval) => stream.write(sseFrame("approval", JSON.stringify(toApproval(approval)))),
        end,
      );
      const keepAlive = setInterval(() => stream.write(": keep-alive\n\n"), KEEP_ALIVE_MS);
      keepAlive.unref();
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
