// The ids an MCP call is known by in the audit record and a puruto's invocation: the HTTP boundary's request id
// (and the caller's correlation id), as REST records them, and the client's JSON-RPC request id. The JSON-RPC id is
// the client's own choice, unbounded: stored as given it could fill a record (a 500,000-character id went into both
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

/** The request's headers as the SDK hands them to a handler (Node's, or a web request's made into an object). */
export interface RequestHeaders {
  requestInfo?: { headers: Record<string, string | string[] | undefined> } | undefined;
}

/**
 * The HTTP boundary's request id of the POST that carried the call: the face puts it in the request's X-Request-Id
 * before the SDK reads the headers (./mcp-face.ts), so this is the caller's when it was safe, else the one generated.
 */
export function boundaryRequestId(extra: RequestHeaders): string | undefined {
  const id = extra.requestInfo?.headers["x-request-id"];
  return typeof id === "string" ? id : undefined;
}

/** The caller's X-Correlation-Id, as given (the puruto invoker uses it only when safe, as REST's does). */
export function correlationIdOf(extra: RequestHeaders): string | undefined {
  const id = extra.requestInfo?.headers["x-correlation-id"];
  return typeof id === "string" ? id : undefined;
}
