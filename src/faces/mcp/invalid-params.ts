// JSON-RPC's Invalid params (-32602) for a request whose params break the MCP schema of its method. The SDK (1.32)
// answers these with -32603 Internal error: its Protocol parses each request with the handler's schema and the
// ZodError it throws carries no code — before Server's own InvalidParams check for tools/call can run. So a
// tools/call with `arguments: []` (or a string, a number, null) looked like a Gatehouse fault, not the caller's.
// The transport (./transport.ts) answers these itself and never hands them to the SDK's Server.
import {
  CallToolRequestSchema,
  ErrorCode,
  isJSONRPCRequest,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  ListToolsRequestSchema,
  PingRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

/** The methods the face's servers answer, with the schema the SDK parses each with (initialize has its own door). */
const SCHEMAS = new Map<string, { safeParse(value: unknown): { success: boolean; error?: unknown } }>([
  ["tools/call", CallToolRequestSchema],
  ["tools/list", ListToolsRequestSchema],
  ["ping", PingRequestSchema],
]);

/** Issues named in the message; a hostile request could carry thousands. */
const MAX_ISSUES = 3;

/** The -32602 answer to `message`, or undefined when it is not a request of those methods with bad params. */
export function invalidParamsAnswer(message: JSONRPCMessage): JSONRPCErrorResponse | undefined {
  return isJSONRPCRequest(message) ? invalidParamsOfRequest(message) : undefined;
}

/** The same for a message already known to be a JSON-RPC request (each zod parse is a share of an MCP call's CPU). */
export function invalidParamsOfRequest(message: JSONRPCRequest): JSONRPCErrorResponse | undefined {
  const parsed = SCHEMAS.get(message.method)?.safeParse(message);
  if (parsed === undefined || parsed.success) return undefined;
  return {
    jsonrpc: "2.0",
    id: message.id,
    error: { code: ErrorCode.InvalidParams, message: `Invalid params: ${issuesOf(parsed.error)}` },
  };
}

/** `params.arguments: Invalid input: expected record, received array` for each of the first issues. */
function issuesOf(error: unknown): string {
  const issues = (error as { issues?: { path: PropertyKey[]; message: string }[] }).issues ?? [];
  const named = issues.slice(0, MAX_ISSUES).map((issue) => `${issue.path.map(String).join(".")}: ${issue.message}`);
  return named.join("; ") || "does not match the method's schema";
}
