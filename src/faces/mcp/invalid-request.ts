// JSON-RPC 2.0's Invalid Request (-32600) for a POST body the SDK (1.32) mis-answers: an empty batch `[]` got
// 202 and no body (the SDK transport found no request in it), and valid JSON that is not a JSON-RPC message
// (`{"method": 5}`, `"jsonrpc": "1.0"`, a batch holding a number) got -32700 Parse error, which says the JSON
// itself was broken. The answer keeps the SDK's shape and status for its other invalid messages (HTTP 400,
// `id: null`: the request's id cannot be trusted).
import { ErrorCode, JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";

const answer = (message: string) => ({ jsonrpc: "2.0", id: null, error: { code: ErrorCode.InvalidRequest, message } });

const EMPTY_BATCH = answer("Invalid Request: empty batch");
const NOT_JSON_RPC = answer("Invalid Request: not a JSON-RPC 2.0 message");

/** The answer to an empty batch; undefined for any other body. Cheap: checked before the session is looked up. */
export function emptyBatchAnswer(body: unknown): typeof EMPTY_BATCH | undefined {
  return Array.isArray(body) && body.length === 0 ? EMPTY_BATCH : undefined;
}

/** The answer to a body that is not one JSON-RPC message or a batch of them; undefined when it is. */
export function notJsonRpcAnswer(body: unknown): typeof NOT_JSON_RPC | undefined {
  const messages = Array.isArray(body) ? body : [body];
  return messages.every((message) => JSONRPCMessageSchema.safeParse(message).success) ? undefined : NOT_JSON_RPC;
}
