// The id an MCP call is known by in the audit record: the client's JSON-RPC request id. It is the client's own
// choice, unbounded: stored as given it could fill a record (a 500,000-character id went into both
// the intent and the outcome) or make the console read something else (a U+202E bidi override).
import { createHash } from "node:crypto";

/** The longest JSON-RPC id recorded as given (REST's X-Request-Id allows 128 characters too). */
const MAX_RECORDED_ID_CHARS = 128;

/** Control, format (bidi, zero-width), surrogate, private-use and unassigned characters; line/paragraph separators. */
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;

/** What an audit record's meta says of a JSON-RPC id: itself when short and printable, else its SHA-256 (hex). */
export function recordedRequestId(
  id: string | number,
): { mcp_request_id: string } | { mcp_request_id: string; mcp_request_id_hashed: true } {
  const text = String(id);
  if (text.length <= MAX_RECORDED_ID_CHARS && !UNPRINTABLE.test(text)) return { mcp_request_id: text };
  return { mcp_request_id: createHash("sha256").update(text).digest("hex"), mcp_request_id_hashed: true };
}
