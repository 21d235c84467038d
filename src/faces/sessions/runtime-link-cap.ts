// At most `max` runtime links per user on this node (GATEHOUSE_WS_MAX_SESSIONS_PER_USER). The live-session cap
// bounds open IDE sockets only, while a detached session keeps its link for the session TTL (its turn may still
// run, and its IDE may resume): connecting and dropping would otherwise let one user pile up runtime links, each
// a socket and a conversation on the runtime. When a link opens and its user holds more than `max` on this node,
// the links of the user's sessions detached longest are closed. Sessions with an IDE here are never chosen
// (the live cap keeps those within `max`); a session held here for an IDE on another node counts as just active.
import { recordOwner, sameOwner } from "./owner";
import type { LiveSession, SessionRegistry } from "./session-state";

/** The `details.reason` of the AGENT_UNAVAILABLE a session whose link was closed this way hears. */
export const LINK_CAP_REASON = "TOO_MANY_SESSIONS";

/** The user's other sessions whose links must close so that `max` remain with `opened`'s, longest detached first. */
export function linksOverCap(registry: SessionRegistry, opened: LiveSession, max: number): LiveSession[] {
  const owner = recordOwner(opened.record);
  const linked: LiveSession[] = [];
  // Called once per opened link: a scan of the node's sessions, allocating only for the user's linked ones.
  for (const s of registry.all())
    if (
      (s.link !== undefined || s === opened) &&
      s.record.ownerSub === owner.sub &&
      sameOwner(recordOwner(s.record), owner)
    )
      linked.push(s);
  const excess = linked.length - max;
  if (excess <= 0) return [];
  const now = Date.now();
  const idleSince = (s: LiveSession) => s.detachedAt ?? now;
  return linked
    .filter((s) => s !== opened && s.conn === undefined)
    .sort((a, b) => idleSince(a) - idleSince(b))
    .slice(0, excess);
}
