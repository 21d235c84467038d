// Which agent judges a session's tool calls is the IDE's choice, never the runtime's: the runtime's agent_switched
// only confirms a switch_agent the IDE sent. A runtime (a prompt-injected agent) that switched itself could pick a
// more lenient agent's manifest, drop its required approvals and spend another manifest's budget.
import type { LiveSession } from "./session-state";

/** Unconfirmed switch_agent requests a session remembers; an older one is forgotten first. */
export const MAX_REQUESTED_AGENTS = 8;

/** The IDE asked the runtime to hand the session to `agent` (before the frame is written to the runtime). */
export function requestAgent(session: LiveSession, agent: string): void {
  const requested = session.requestedAgents ?? [];
  requested.push(agent);
  session.requestedAgents = requested.slice(-MAX_REQUESTED_AGENTS);
}

/**
 * The runtime says it switched to `agent`: true, and the session's agent is now `agent`, when the IDE asked for
 * it (that request and the older ones are settled: the runtime answers in order). False when it did not (the
 * agent is unchanged; exact match, no case folding or trimming).
 */
export function confirmAgent(session: LiveSession, agent: string): boolean {
  const requested = session.requestedAgents ?? [];
  const at = requested.indexOf(agent);
  if (at < 0) return false;
  session.requestedAgents = requested.slice(at + 1);
  session.agent = agent;
  return true;
}
