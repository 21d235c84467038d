// The approvals feed as a server-sent-events response (spec/console.tsp, ApprovalEvents_stream).
import { PassThrough } from "node:stream";
import type { components } from "../../../generated/api-types";
import type { Principal } from "../../core/identity/principal";
import { requireOperatorOf } from "../../http/boundary/org-scope";
import type { HandlerGroup } from "../../http/handlers";
import { countWithinBytes, encodeTimeCursor, type Page, timePageOf } from "../../http/paging";
import type { ApprovalRenderer } from "../../http/wire-models";
import type { ApprovalEvents } from "./approval-events";

type LiveSession = components["schemas"]["LiveSession"];

/** The sessions face's live sessions, as a port (a face never imports another face). */
export interface LiveSessionsPort {
  /**
   * The org's sessions that `pick` keeps (given them all without their agent), each with its agent: one read of
   * the shared store (Redis) per session kept, none for the others.
   */
  list(orgId: string, pick?: (sessions: LiveSession[]) => LiveSession[]): Promise<LiveSession[]>;
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

const NEWEST_FIRST = { idKey: "session_id", order: "newest-first" } as const;

/**
 * A page of the org's live sessions, newest first; a session that ends between two pages does not invalidate the
 * cursor (a time position). Paged before the sessions' agents are read: the shared store is read for the page's
 * sessions only, not once for every session of the org.
 */
async function liveSessionsPage(
  sessions: LiveSessionsPort | undefined,
  orgId: string,
  query: { limit?: number | undefined; cursor?: string | undefined },
): Promise<Page<LiveSession>> {
  // Without sessions a bad cursor is still refused.
  if (!sessions) return timePageOf<LiveSession>([], NEWEST_FIRST, query);
  let page: Page<LiveSession> = { items: [] };
  const items = await sessions.list(orgId, (all) => {
    page = timePageOf(all, NEWEST_FIRST, query);
    return page.items;
  });
  // The byte budget counted the page without its agents: one that outgrew it with them ends before.
  const kept = items.slice(0, countWithinBytes(items));
  const last = kept.at(-1);
  if (kept.length === items.length || !last) return { items, ...cursorOf(page) };
  return { items: kept, next_cursor: encodeTimeCursor(last.created_at, "session_id", last.session_id) };
}

const cursorOf = (page: Page<unknown>) => (page.next_cursor !== undefined ? { next_cursor: page.next_cursor } : {});

export function consoleHandlers({ events, sessions, renderApproval }: ConsoleHandlerDeps) {
  return {
    LiveSessions_list: async ({ params, query, principal }) => {
      requireOperatorOf(principal, params.org_id);
      return { status: 200, body: await liveSessionsPage(sessions, params.org_id, query) };
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
