// Koa's node request/response ↔ the web Request/Response of the SDK's Streamable HTTP transport
// (WebStandardStreamableHTTPServerTransport), for the requests the SDK transport answers itself (initialize,
// notifications, calls that want progress, GET, DELETE; plain calls are answered as JSON by ./transport). The
// SDK's Node wrapper does this through @hono/node-server, which flushes the headers of an SSE answer in a socket
// write of their own and relays each event as a chunked frame — three writes for one answer. Here:
//   - the request is a view of method, URL and headers only (the body is always handed to the transport parsed,
//     so the transport never reads it);
//   - an answer whose stream is already complete when its first event comes out is written at once, headers and
//     body in one write with a Content-Length — still SSE framing, so clients see exactly what the SDK sends;
//   - a stream that stays open (a call waiting for an approval with progress notifications, the GET stream)
//     is relayed event by event.
import type { Context } from "koa";

/** What the transport reads of a request whose body it is given parsed: method, URL and headers. */
type RequestView = Pick<Request, "method" | "url" | "headers">;

export function webRequestOf(ctx: Context): Request {
  const headers = new Headers();
  const raw = ctx.req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  // The boundary's request id (./mcp-face.ts put it in the node request's headers), not the caller's raw header.
  const requestId = ctx.req.headers["x-request-id"];
  if (typeof requestId === "string") headers.set("x-request-id", requestId);
  const view: RequestView = { method: ctx.method, url: ctx.href, headers };
  // A full undici Request costs several times the view (webidl conversions, a body stream): the transport only
  // touches these three members when a parsed body is passed (SDK 1.32, pinned; the e2e tests cover each path).
  return view as Request;
}

type Reader = ReadableStreamDefaultReader<Uint8Array>;
type Read = Awaited<ReturnType<Reader["read"]>>;

/** The read if it has already settled (a chunk was queued, or the stream is closed), else undefined. */
const settledNow = (read: Promise<Read>): Promise<Read | undefined> =>
  Promise.race([read, Promise.resolve().then(() => Promise.resolve(undefined))]);

/**
 * Writes the transport's answer on the raw response. `holdHeaders`: wait for the first event before sending
 * anything (a POST: its answer usually follows at once); otherwise (the GET stream) the headers go out now.
 */
export async function sendWebResponse(ctx: Context, response: Response, holdHeaders: boolean): Promise<void> {
  ctx.respond = false; // answered on the raw response
  const res = ctx.res;
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  if (!response.body) {
    res.writeHead(response.status, headers);
    res.end();
    return;
  }
  const reader = response.body.getReader();
  // The client went away mid-stream: the transport forgets the stream (an inline listener, left on this response
  // object: a named closure per call costs a keep-names wrapper under tsx).
  res.once("close", () => {
    if (!res.writableFinished) reader.cancel().catch(() => undefined);
  });
  try {
    const chunks: Uint8Array[] = [];
    let read = reader.read();
    let result = holdHeaders ? await read : await settledNow(read);
    while (result && !result.done) {
      chunks.push(result.value);
      read = reader.read();
      result = await settledNow(read);
    }
    if (res.destroyed) return;
    if (result?.done) {
      let length = 0;
      for (const chunk of chunks) length += chunk.byteLength;
      // Object.assign, not `{ ...headers, "content-length": … }`: a property added after a spread is V8's slow path.
      res.writeHead(response.status, Object.assign({}, headers, { "content-length": String(length) }));
      res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      return;
    }
    res.writeHead(response.status, headers);
    if (chunks.length === 0) res.flushHeaders();
    for (const chunk of chunks) res.write(chunk);
    await relay(res, reader, read);
  } catch (err) {
    res.destroy(err instanceof Error ? err : new Error(String(err)));
  }
}

/** The rest of an open stream, event by event, honouring back-pressure. */
async function relay(res: Context["res"], reader: Reader, first: Promise<Read>): Promise<void> {
  for (let read = first; ; read = reader.read()) {
    const { done, value } = await read;
    if (done || res.destroyed) break;
    if (!res.write(value))
      await new Promise<void>((ok) => {
        res.once("drain", ok);
        res.once("close", ok);
      });
  }
  if (!res.destroyed) res.end();
}
