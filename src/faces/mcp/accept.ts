// The Accept header the MCP SDK's Streamable HTTP transport requires. The SDK refuses anything else with its own
// 406 JSON-RPC error body; checked here first, the refusal is problem+json like every other error of Gatehouse, and
// an initialize request is refused before a session is opened for it.
import type { Context } from "koa";
import { HttpProblem } from "../../http/problem";

/** The media types the SDK needs a request to accept, by method (DELETE answers no body). */
const NEEDED: Record<string, string[]> = {
  POST: ["application/json", "text/event-stream"],
  GET: ["text/event-stream"],
};

/** Throws 406 NOT_ACCEPTABLE unless the request's Accept names every type the SDK needs for its method. */
export function assertAcceptedBySdk(ctx: Context): void {
  const needed = NEEDED[ctx.method] ?? [];
  const accept = ctx.get("Accept").toLowerCase();
  // A substring test, as the SDK's own (Accept is a comma-separated list).
  if (needed.every((type) => accept.includes(type))) return;
  throw new HttpProblem(406, `MCP requests must accept ${needed.join(" and ")}: send Accept: ${needed.join(", ")}`, {
    code: "NOT_ACCEPTABLE",
  });
}
