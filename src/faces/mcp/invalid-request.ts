// JSON-RPC 2.0's Invalid Request (-32600) for a POST body the SDK (1.32) mis-answers: an empty batch `[]` got
// 202 and no body (the SDK transport found no request in it), and valid JSON that is not a JSON-RPC message
// (`{"method": 5}`, `"jsonrpc": "1.0"`, a batch holding a number) got -32700 Parse error, which says the JSON
// itself was broken. The answer keeps the SDK's shape and status for its other invalid messages (HTTP 400,
// `id: null`: the request's id cannot be trusted).
import { MAX_BATCH_SIZE } from "@modelcontextprotocol/sdk/server/requestBody.js";
import { ErrorCode, JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";

const answer = (message: string) => ({ jsonrpc: "2.0", id: null, error: { code: ErrorCode.InvalidRequest, message } });

const EMPTY_BATCH = answer("Invalid Request: empty batch");
const NOT_JSON_RPC = answer("Invalid Request: not a JSON-RPC 2.0 message");
const REPEATED_ID = answer("Invalid Request: two requests of the batch have the same id");
/**
 * A request whose id is the id of a request of the same session still being answered (its POST is open). The SDK
 * keys its answer routing and cancellation by id: the second request took over the first's stream, so one answer
 * went to the wrong caller or was lost, and cancelling one cancelled the other.
 */
export const ID_IN_USE = answer("Invalid Request: a request of this session with the same id is still being answered");

/** The answer to an empty batch; undefined for any other body. Cheap: checked before the session is looked up. */
export function emptyBatchAnswer(body: unknown): typeof EMPTY_BATCH | undefined {
  return Array.isArray(body) && body.length === 0 ? EMPTY_BATCH : undefined;
}

/**
 * The SDK transport's answer to a batch of more than MAX_BATCH_SIZE messages, given before anything reads the batch:
 * the face's own checks of a batch (JSON-RPC schema, ids) parsed each of its messages first, as many as the body
 * limit allows, to end with this answer anyway.
 */
const OVERSIZED_BATCH = answer(`Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`);

/** The answer to a batch over the SDK's limit; undefined for any other body. */
export function oversizedBatchAnswer(body: unknown): typeof OVERSIZED_BATCH | undefined {
  return Array.isArray(body) && body.length > MAX_BATCH_SIZE ? OVERSIZED_BATCH : undefined;
}

/** The answer to a body that is not one JSON-RPC message or a batch of them; undefined when it is. */
export function notJsonRpcAnswer(body: unknown): typeof NOT_JSON_RPC | undefined {
  const messages = Array.isArray(body) ? body : [body];
  return messages.every((message) => JSONRPCMessageSchema.safeParse(message).success) ? undefined : NOT_JSON_RPC;
}

/**
 * The answer to a batch in which two requests share an id: the SDK transport matches answers to requests by id, so
 * one of them would go unanswered (JSON-RPC leaves ids to the client, and they must tell its requests apart).
 */
export function repeatedIdAnswer(body: unknown): typeof REPEATED_ID | undefined {
  if (!Array.isArray(body)) return undefined;
  const ids = new Set<unknown>();
  for (const message of body) {
    if (typeof message !== "object" || message === null || !("method" in message) || !("id" in message)) continue;
    const id = (message as { id: unknown }).id;
    if (ids.has(id)) return REPEATED_ID;
    ids.add(id);
  }
  return undefined;
}
