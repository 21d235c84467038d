// Which agent judges a session's tool calls is the IDE's choice, never the runtime's: the runtime's agent_switched
// only confirms a switch_agent the IDE sent. A runtime (a prompt-injected agent) that switched itself could pick a
// more lenient agent's manifest, drop its required approvals and spend another manifest's budget.
//
// A request is remembered on the runtime link it is written to, and only an agent_switched arriving over that same
// link answers it. With several nodes this makes "asked on one node, answered on another" impossible rather than
// shared: a session's link lives on one node (./cluster.ts), every IDE frame for it is applied on that node whichever
// node the IDE is on (./cross-node.ts), and the runtime's answer arrives over the link, so the request and its answer
// always meet on the holder. A request does not outlive its link: when the link is lost (the runtime went away, or
// the node holding it did and another took the session over with a link of its own), the IDE was told
// AGENT_UNAVAILABLE, and a new link's agent_switched naming an agent asked over the old one is the runtime's own
// choice, refused; the IDE asks again. (Were requests kept per session instead, a node taking a session over would
// not see those made on the node that held it, and a node holding it again later would still hold stale ones.)
//
// The confirmed agent, unlike a request, is the session's: it outlives the link (on one node, a new link's calls are
// judged under it too). With several nodes it is kept in the shared session state, and the node that opens the
// session's next link (a takeover, or the runtime dropped the link while the IDE was elsewhere) reads it first:
// without that, a node new to the session judged its calls under the original manifest, and one that held the session
// earlier under the agent of then.
import { logger } from "../../core/log/logger";
import type { RuntimeLink } from "./runtime-link";
import type { LiveSession } from "./session-state";
import type { SessionStore } from "./session-store";

const log = logger.child({ module: "sessions", part: "agent-switch" });

/** Unconfirmed switch_agent requests a link remembers; an older one is forgotten first. */
export const MAX_REQUESTED_AGENTS = 8;

/** The IDE asked the runtime to hand the session to `agent` (before the frame is written to `link`). */
export function requestAgent(link: RuntimeLink, agent: string): void {
  link.requestedAgents = [...link.requestedAgents, agent].slice(-MAX_REQUESTED_AGENTS);
}

/** How the runtime's agent_switched over a link was taken (./runtime-inbound.ts acts on it). */
export type AgentAnswer = "confirmed" | "not-asked" | "not-shared";

/**
 * The runtime says over `link` that it switched to `agent`. "confirmed", and the session's agent is now `agent`, when
 * the IDE asked for it over that link (that request and the older ones are settled: the runtime answers in order)
 * and the shared store took it. "not-asked" when the IDE did not ask (exact match, no case folding or trimming), and
 * "not-shared" when the store could not keep it: the agent is unchanged in both cases. Fail closed: a switch the
 * other nodes cannot see would have the node opening the session's next link judge its calls under the agent of
 * before, while the IDE was told of the new one; the caller drops the link instead (the runtime runs as `agent`).
 */
export async function confirmAgent(
  session: LiveSession,
  link: RuntimeLink,
  agent: string,
  store: Pick<SessionStore, "shareAgent">,
): Promise<AgentAnswer> {
  const at = link.requestedAgents.indexOf(agent);
  if (at < 0) return "not-asked";
  link.requestedAgents = link.requestedAgents.slice(at + 1);
  if (!(await shared(session, agent, store))) return "not-shared";
  session.agent = agent;
  return "confirmed";
}

/** The shared store keeps `agent` as the session's (true without a shared store: one node, nothing to share). */
async function shared(session: LiveSession, agent: string, store: Pick<SessionStore, "shareAgent">) {
  if (!store.shareAgent) return true;
  try {
    await store.shareAgent(session.record.id, agent);
    return true;
  } catch (err) {
    log.warn({ err: String(err), sessionId: session.record.id, agent }, "cannot share the session's new agent");
    return false;
  }
}

/**
 * Before this node opens the session's runtime link (so before the link's first tool_call is judged): the session's
 * agent as the shared store knows it. A store that cannot be read leaves this node's copy (it carries on alone).
 */
export async function adoptSharedAgent(session: LiveSession, store: Pick<SessionStore, "sharedAgent">): Promise<void> {
  if (!store.sharedAgent) return;
  try {
    const agent = await store.sharedAgent(session.record.id);
    if (agent === undefined) delete session.agent;
    else session.agent = agent;
  } catch (err) {
    log.warn(
      { err: String(err), sessionId: session.record.id },
      "cannot read the session's agent; keeping this node's",
    );
  }
}
