// The SDK transport's refusal of an unsupported `Mcp-Protocol-Version` header (400, JSON-RPC error -32000, its very
// body), for the one request this face answers without an SDK transport: a DELETE of a shared session that this
// node holds no copy of. A node holding a copy has the SDK refuse it; a node without one must refuse it the same way
// rather than delete the session for a request the protocol refuses.
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";

/** The 400 the SDK answers to `version` (the header's value, undefined when absent), or undefined when it is fine. */
export function unsupportedProtocolVersion(version: string | string[] | undefined): Response | undefined {
  if (version === undefined) return undefined;
  const named = Array.isArray(version) ? version.join(", ") : version;
  if (SUPPORTED_PROTOCOL_VERSIONS.includes(named)) return undefined;
  const message = `Bad Request: Unsupported protocol version: ${named} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`;
  return new Response(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }), {
    status: 400,
    headers: { "Content-Type": "application/json" },
  });
}
