// An MCP session's transport: the SDK's Streamable HTTP transport (WebStandardStreamableHTTPServerTransport) with
// the SDK's JSON response mode (`enableJsonResponse`) decided per request instead of per session. A POST carrying
// one JSON-RPC request that asks for no progress (no `_meta.progressToken`: a plain tools/call, tools/list) is
// answered with `application/json` straight on the node response — no web Request/Response, no SSE stream, no
// keep-alive timer per call, which were most of the MCP face's own cost in `make bench`. Everything else —
// initialize, notifications, batches, a call that wants progress notifications while it waits for an approval,
// the GET stream, DELETE, and whatever the SDK transport would refuse (406, 400) — goes through the SDK transport
// unchanged. JSON-RPC stays the SDK's: the message is validated with its schema and dispatched, answered and
// cancelled by its Server/Protocol; this class only carries messages, as the SDK's Transport interface intends.
import type { ServerResponse } from "node:http";
import {
  WebStandardStreamableHTTPServerTransport,
  type WebStandardStreamableHTTPServerTransportOptions,
} from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  JSONRPCRequestSchema,
  type MessageExtraInfo,
  type RequestId,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
import type { Context } from "koa";
import { invalidParamsAnswer, invalidParamsOfRequest } from "./invalid-params";

/** One request (not a batch, not initialize) whose caller asked for no progress notifications. */
function wantsNoStream(body: unknown): boolean {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return false;
  const { id, method, params } = body as { id?: unknown; method?: unknown; params?: { _meta?: unknown } };
  if (id === undefined || typeof method !== "string" || method === "initialize") return false;
  const meta = params?._meta;
  return !(typeof meta === "object" && meta !== null && "progressToken" in meta);
}

export class SessionTransport implements Transport {
  /** The SDK transport: the session itself (initialize, id, protocol checks, SSE, GET, DELETE). */
  readonly sdk: WebStandardStreamableHTTPServerTransport;
  /** Requests being answered as JSON, by id: the node response each answer goes to. */
  private readonly json = new Map<RequestId, ServerResponse>();
  /** Ids of the requests whose POST is still open (./mcp-face.ts claims them): JSON-RPC ids must tell them apart. */
  private readonly openIds = new Set<RequestId>();
  private closed = false;

  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** A POST's requests were answered, or their caller left (./sessions.ts: the session was used until now). */
  onsettled?: () => void;
  onmessage?: (message: JSONRPCMessage, extra?: MessageExtraInfo) => void;

  constructor(options: WebStandardStreamableHTTPServerTransportOptions) {
    this.sdk = new WebStandardStreamableHTTPServerTransport(options);
    this.sdk.onmessage = (message, extra) => this.deliver(message, extra, invalidParamsAnswer(message));
    this.sdk.onerror = (error) => this.onerror?.(error);
    this.sdk.onclose = () => {
      this.closed = true;
      for (const res of this.json.values()) res.destroy(); // as the SDK ends its open streams
      this.json.clear();
      this.onclose?.();
    };
  }

  get sessionId(): string | undefined {
    return this.sdk.sessionId;
  }

  start(): Promise<void> {
    return this.sdk.start();
  }

  close(): Promise<void> {
    return this.sdk.close();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const answer = "id" in message && ("result" in message || "error" in message);
    const related = options?.relatedRequestId;
    const id = answer ? message.id : related;
    const res = id === undefined ? undefined : this.json.get(id);
    if (!res || id === undefined)
      return this.sdk.send(message, related === undefined ? undefined : { relatedRequestId: related });
    // A notification (or a request to the client) about a request answered as JSON has no stream to go on, as in
    // the SDK's JSON mode: the tools of this face send progress only when asked for it (and then use SSE).
    if (!answer) return;
    this.json.delete(id);
    const body = JSON.stringify(message);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
    };
    if (this.sessionId !== undefined) headers["mcp-session-id"] = this.sessionId;
    res.writeHead(200, headers);
    res.end(body);
  }

  /**
   * A message from the client to the session's Server — except a request whose params break its method's schema,
   * which is answered Invalid params (-32602) here (./invalid-params.ts: the SDK would say Internal error). The
   * answer goes out after this turn, as the Server's do, once the SDK transport has set up the request's stream.
   * `refusal` is always passed (not a default parameter: a default is evaluated again whenever the value passed is
   * undefined, so every valid call was parsed twice more with zod).
   */
  private deliver(
    message: JSONRPCMessage,
    extra: MessageExtraInfo | undefined,
    refusal: JSONRPCErrorResponse | undefined,
  ): void {
    if (refusal === undefined) {
      this.onmessage?.(message, extra);
      return;
    }
    queueMicrotask(() => this.send(refusal).catch((err: unknown) => this.onerror?.(err as Error)));
  }

  /**
   * Claims `ids` (a POST's requests) until `releaseIds`: false, claiming none, when one of them is claimed by a POST
   * still open — an answer is routed and a request cancelled by its id alone.
   */
  claimIds(ids: readonly RequestId[]): boolean {
    if (ids.some((id) => this.openIds.has(id))) return false;
    for (const id of ids) this.openIds.add(id);
    return true;
  }

  releaseIds(ids: readonly RequestId[]): void {
    for (const id of ids) this.openIds.delete(id);
    if (ids.length > 0) this.onsettled?.();
  }

  /** A call (a POST's request) is being answered: the pool never closes the session under it. */
  get busy(): boolean {
    return this.openIds.size > 0;
  }

  /**
   * The caller of request `id` went away before its answer: the request is cancelled as by its client's
   * `notifications/cancelled`, so its handler's signal aborts as a REST request's does when its caller leaves (a
   * call waiting for an approval stops waiting: it never runs unseen once approved). No-op once answered.
   */
  callerLeft(id: RequestId): void {
    if (this.closed) return;
    this.onmessage?.({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: id, reason: "the client went away" },
    });
  }

  /**
   * Answers the POST as JSON when it is one request that wants no progress, settling once the answer is written
   * (or the client left); undefined when the SDK transport must handle it. The session was already matched to
   * the Mcp-Session-Id header by the registry (which holds initialized sessions only).
   */
  answerAsJson(ctx: Context, body: unknown): Promise<void> | undefined {
    if (this.closed || ctx.method !== "POST" || !wantsNoStream(body)) return undefined;
    // The SDK transport's own checks, so that it answers (406, 400) whatever does not pass them.
    const accept = ctx.get("Accept");
    if (!accept.includes("application/json") || !accept.includes("text/event-stream")) return undefined;
    const version = ctx.get("Mcp-Protocol-Version");
    if (version && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return undefined;
    const parsed = JSONRPCRequestSchema.safeParse(body);
    if (!parsed.success || this.json.has(parsed.data.id)) return undefined;
    const request = parsed.data;
    const res = ctx.res;
    ctx.respond = false; // answered on the raw response, by send()
    this.json.set(request.id, res);
    return new Promise<void>((settled) => {
      res.once("close", () => {
        if (this.json.get(request.id) === res) {
          this.json.delete(request.id);
          this.callerLeft(request.id); // before its answer
        }
        settled();
      });
      // Already parsed as a request above: only its params are checked.
      this.deliver(request, { requestInfo: requestInfoOf(ctx) }, invalidParamsOfRequest(request));
    });
  }
}

/**
 * The SDK's RequestInfo of a request answered as JSON. Its URL is built only when a handler reads it (none of the
 * face's does): `new URL` per call was 0.7% of the MCP line's CPU.
 */
function requestInfoOf(ctx: Context): NonNullable<MessageExtraInfo["requestInfo"]> {
  const { headers } = ctx.req;
  return {
    headers,
    get url() {
      return new URL(ctx.href);
    },
  };
}
