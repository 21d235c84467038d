// One runtime link per session, opened on the first frame that needs it and shared by everything that writes
// to the runtime. Frames from the runtime are queued per session, so they are handled in arrival order.
import { logger } from "../../core/log/logger";
import { adoptSharedAgent } from "./agent-switch";
import { readBacklog } from "./read-backlog";
import { RuntimeLink } from "./runtime-link";
import { LINK_CAP_REASON, linksOverCap } from "./runtime-link-cap";
import type { LiveSession, SessionRegistry } from "./session-state";

const log = logger.child({ module: "sessions" });

export interface RuntimeLinksDeps {
  registry: SessionRegistry;
  agentRuntimeUrl: string;
  agentRuntimeKey?: string | undefined;
  connectTimeoutMs: number;
  /** Runtime links per user on this node; past it, the longest-detached session's link closes (./runtime-link-cap.ts). */
  maxLinksPerUser: number;
  /** Bytes of a link's frames waiting to be handled before the link is no longer read (./read-backlog.ts). */
  maxBacklogBytes: number;
  /** Bytes a link may hold unwritten before IDE frames for it are refused (./runtime-link.ts `congested`). */
  maxBufferedBytes: number;
  /** Handles one runtime frame; called in order per session, never concurrently for one session. */
  onFrame: (session: LiveSession, link: RuntimeLink, data: string, receivedAt: number) => Promise<void>;
  /** The session's link is open here / dropped (other nodes forward its IDE frames here meanwhile). */
  onLinked?: (session: LiveSession) => void;
  onUnlinked?: (session: LiveSession) => void;
}

export class RuntimeLinks {
  constructor(private readonly deps: RuntimeLinksDeps) {}

  /** The session's open link, connecting it first if needed; undefined when the runtime cannot be reached. */
  async linkFor(session: LiveSession): Promise<RuntimeLink | undefined> {
    if (session.link?.open) return session.link;
    if (!session.linking) session.linking = this.connect(session);
    try {
      return await session.linking;
    } catch {
      return undefined;
    }
  }

  /**
   * Closes a detached session's link to keep its user within the cap: its turn ends (approvals cancelled), the
   * session stays resumable and hears why in its stream; its IDE's next frame opens a link again.
   */
  private closeForCap(session: LiveSession): void {
    const link = session.link;
    if (!link) return;
    session.link = undefined;
    link.close();
    this.deps.onUnlinked?.(session);
    const { registry } = this.deps;
    registry.cancelApprovals(session, "the session's runtime link was closed: its user has too many sessions");
    log.info({ sessionId: session.record.id }, "closed a detached session's runtime link (per-user link cap)");
    registry.sendError(
      session,
      "AGENT_UNAVAILABLE",
      "Agent runtime connection closed: this user's newer sessions needed the room; the next message reconnects",
      { details: { reason: LINK_CAP_REASON } },
    );
  }

  private async connect(session: LiveSession): Promise<RuntimeLink> {
    const { registry, onFrame } = this.deps;
    const sessionId = session.record.id;
    // Before the link exists, so its first tool_call is judged under it: the agent another node may have confirmed.
    await adoptSharedAgent(session, registry.store);
    const link = new RuntimeLink({
      runtimeUrl: this.deps.agentRuntimeUrl,
      apiKey: this.deps.agentRuntimeKey,
      sessionId,
      sub: session.record.ownerSub,
      orgId: session.record.orgId,
      connectTimeoutMs: this.deps.connectTimeoutMs,
      maxBufferedBytes: this.deps.maxBufferedBytes,
      onFrame: (data, receivedAt) => {
        const cost = backlog.add(data);
        session.runtimeQueue = session.runtimeQueue
          .then(() => onFrame(session, link, data, receivedAt))
          .catch((err) => log.error({ err, sessionId }, "runtime frame handling failed"))
          .finally(() => backlog.done(cost));
      },
      onLost: (reason) => {
        log.warn({ sessionId, reason }, "runtime link lost");
        if (session.link === link) session.link = undefined;
        this.deps.onUnlinked?.(session);
        // The turn that asked for them ended with the link (a new link is a new runtime session): approving
        // one now would hand the IDE a runnable call nobody waits for, as with a link closed for the cap.
        registry.cancelApprovals(session, "the agent runtime's connection was lost: the turn that asked for it ended");
        if (registry.isCurrent(session) && !registry.shuttingDown) {
          registry.sendError(session, "AGENT_UNAVAILABLE", "Agent runtime connection lost");
        }
      },
    });
    const backlog = readBacklog(link, this.deps.maxBacklogBytes);
    return link
      .connect()
      .then(
        () => {
          session.link = link;
          this.deps.onLinked?.(session);
          for (const idle of linksOverCap(registry, session, this.deps.maxLinksPerUser)) this.closeForCap(idle);
          return link;
        },
        (err) => {
          log.warn({ err, sessionId }, "cannot reach the agent runtime");
          throw err;
        },
      )
      .finally(() => {
        session.linking = undefined;
      });
  }
}
