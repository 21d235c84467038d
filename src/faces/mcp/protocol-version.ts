// The `Mcp-Protocol-Version` header, checked before the MCP SDK's transport sees the request. The SDK refuses an
// unsupported one itself, with a 400 whose body is a JSON-RPC error (-32000): checked here first, the refusal is
// problem+json like every other HTTP error of Gatehouse (as ./accept.ts does for the SDK's 406). Here too is the
// one request this face answers without an SDK transport — a DELETE of a shared session no copy of which this node
// holds — so it is refused the same way on every node rather than deleting a session for a request the protocol
// refuses.
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import { clipped } from "../../core/policy/clip";
import { HttpProblem } from "../../http/problem";

/**
 * Throws 400 VALIDATION_FAILED when the request names a protocol version the SDK does not support. Not for an
 * initialize request: its version is negotiated in its body, and the SDK ignores the header.
 */
export function assertSupportedProtocolVersion(version: string | string[] | undefined): void {
  if (version === undefined) return;
  // Node joins a repeated header with ", ", which the SDK's Fetch Headers see too: never a supported version.
  const named = Array.isArray(version) ? version.join(", ") : version;
  if (SUPPORTED_PROTOCOL_VERSIONS.includes(named)) return;
  throw new HttpProblem(
    400,
    `Unsupported Mcp-Protocol-Version ${clipped(named)}: send one of ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")}`,
    {
      code: "VALIDATION_FAILED",
      errors: [
        {
          pointer: "/headers/mcp-protocol-version",
          message: `must be one of ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")}`,
        },
      ],
    },
  );
}
