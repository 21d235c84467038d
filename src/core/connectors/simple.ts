// Connectors that need no outside world: `echo` (and the original's `mock` alias) for demos and tests, `noop`.
import { randomUUID } from "node:crypto";
import type { Connector } from "./types";

/** Answers as a delivering tool would: the params back, plus a message id and the send time. */
export function createEchoConnector(now: () => Date = () => new Date()): Connector {
  return async ({ params }) => ({
    success: true,
    data: { ...params, message_id: `msg-${randomUUID()}`, sent_at: now().toISOString() },
  });
}

/** Does nothing and says so; for tools whose only effect is the audit record. */
export const noopConnector: Connector = async () => ({ success: true, data: null });
