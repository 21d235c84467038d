// The JSON body reader as a client and an attacker see it: bodies within the limit arrive parsed, and every body
// it refuses gets the status, code and detail koa-body's answers had (413, 415, 400 INVALID_JSON) — without
// reading or holding more than the limit, decompressed or not, and without hanging when the client goes away.
import { Agent, createServer, IncomingMessage, request, type Server, ServerResponse } from "node:http";
import { type AddressInfo, connect, Socket } from "node:net";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import Koa, { type Context } from "koa";
import { afterEach, describe, expect, it } from "vitest";
import { parseFrame } from "../../faces/sessions/frames";
import { loadMessageValidators } from "../../faces/sessions/schemas";
import { HttpProblem } from "../boundary";
import { readJsonBody } from "./json-body";

const LIMIT = 1024;
const app = new Koa();

interface Sent {
  headers: Record<string, string>;
  /** Body chunks, pushed in order; the stream then ends unless `open`. */
  chunks?: (string | Buffer)[];
  open?: boolean;
}

/** A request as Node's HTTP parser hands it over (headers as sent, the body as chunks), in a Koa context. */
function requestOf({ headers, chunks = [], open = false }: Sent): { ctx: Context; req: IncomingMessage } {
  const req = new IncomingMessage(new Socket());
  req.method = "POST";
  req.url = "/";
  req.headers = headers;
  for (const chunk of chunks) req.push(chunk);
  if (!open) req.push(null);
  const ctx = app.createContext(req, new ServerResponse(req)) as Context;
  return { ctx, req };
}

const json = (body: string | Buffer, headers: Record<string, string> = {}): Sent => ({
  headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), ...headers },
  chunks: [body],
});

/** The parsed body, or the problem the reader threw (status, code, detail). */
async function read(sent: Sent, limitBytes = LIMIT) {
  const { ctx, req } = requestOf(sent);
  try {
    await readJsonBody(ctx, { limitBytes });
    return { body: (ctx.request as { body?: unknown }).body, req };
  } catch (err) {
    if (!(err instanceof HttpProblem)) throw err;
    return { problem: { status: err.status, code: err.code, detail: err.detail }, req };
  }
}

const invalidJson = (detail: string) => ({ status: 400, code: "INVALID_JSON", detail });
const TOO_LARGE = {
  status: 413,
  code: "PAYLOAD_TOO_LARGE",
  detail: "Request body is larger than the configured limit",
};

describe("bodies a client sends", () => {
  it("an object or an array is parsed, in any JSON media type, UTF-8 declared or not", async () => {
    expect((await read(json('{"a":[1,{"b":null}]}'))).body).toEqual({ a: [1, { b: null }] });
    expect((await read(json(" \n[1,2]"))).body).toEqual([1, 2]);
    for (const type of [
      "application/json; charset=UTF-8",
      "application/vnd.api+json",
      "Application/JSON; charset=utf8",
    ]) {
      expect((await read(json('{"a":"é"}', { "content-type": type }))).body, type).toEqual({ a: "é" });
    }
  });

  it("split across chunks, even inside a multi-byte character", async () => {
    const bytes = Buffer.from('{"name":"zoë 😀"}');
    const chunks = [bytes.subarray(0, 11), bytes.subarray(11, 17), bytes.subarray(17)];
    const r = await read({ headers: { "content-type": "application/json", "transfer-encoding": "chunked" }, chunks });
    expect(r.body).toEqual({ name: "zoë 😀" });
  });

  it("an empty body (Content-Length: 0 or an empty chunked one) is {} — co-body's strict mode", async () => {
    expect((await read(json(""))).body).toEqual({});
    const chunked = { headers: { "content-type": "application/json", "transfer-encoding": "chunked" } };
    expect((await read(chunked)).body).toEqual({});
  });

  it("a leading UTF-8 byte order mark is dropped, as iconv did", async () => {
    expect((await read(json('\ufeff{"a":1}'))).body).toEqual({ a: 1 });
  });

  it("gzip, deflate and br bodies are decompressed", async () => {
    const text = JSON.stringify({ a: "x".repeat(500) });
    for (const [encoding, bytes] of [
      ["gzip", gzipSync(text)],
      ["deflate", deflateSync(text)],
      ["br", brotliCompressSync(text)],
      ["identity", Buffer.from(text)],
    ] as const) {
      const r = await read(json(bytes, { "content-encoding": encoding }));
      expect(r.body, encoding).toEqual({ a: "x".repeat(500) });
    }
  });

  it("a body that is not JSON is left unread for the route's 415", async () => {
    const { body, req } = await read({
      headers: { "content-type": "text/plain", "content-length": "2" },
      chunks: ["hi"],
    });
    expect(body).toBeUndefined();
    expect(req.readableFlowing).toBeNull(); // nobody started reading it
  });

  it("a request without a body is left alone", async () => {
    expect((await read({ headers: { "content-type": "application/json" } })).body).toBeUndefined();
  });
});

describe("bodies refused", () => {
  it("invalid JSON → 400 INVALID_JSON", async () => {
    expect((await read(json('{"a":'))).problem).toEqual(invalidJson("Request body is not valid JSON"));
    expect((await read(json('{"a":1} x'))).problem).toEqual(invalidJson("Request body is not valid JSON"));
  });

  it("bytes that are not UTF-8 → 400, not U+FFFD in their place", async () => {
    const notUtf8 = (bytes: number[]) =>
      Buffer.concat([Buffer.from('{"merchant_name":"Evil'), Buffer.from(bytes), Buffer.from(' Corp"}')]);
    // A stray byte, a truncated sequence, an overlong "/", a UTF-16 surrogate encoded as UTF-8, past U+10FFFF.
    for (const bytes of [[0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]])
      expect((await read(json(notUtf8(bytes)))).problem, String(bytes)).toEqual(
        invalidJson("Request body is not valid UTF-8"),
      );
    expect((await read(json(notUtf8([0xc3, 0xa9])))).body).toEqual({ merchant_name: "Evilé Corp" });
  });

  it("a scalar at the top (or only whitespace) → 400 saying a JSON object is expected", async () => {
    for (const text of ['"str"', "42", "null", "true", "   ", "hello"]) {
      expect((await read(json(text))).problem, text).toEqual(invalidJson("Request body must be a JSON object"));
    }
  });

  it("a __proto__ key anywhere, plain or \\u-escaped → 400 (prototype poisoning)", async () => {
    const poisoned = invalidJson("Request body must not contain __proto__ or constructor.prototype");
    for (const text of [
      '{"__proto__":{"admin":true}}',
      '{"a":[{"b":{"__proto__":{"admin":true}}}]}',
      '[{"\\u005f_proto__" : 1}]',
      '{"a":{"__pr\\u006fto__":{}}}',
    ]) {
      expect((await read(json(text))).problem, text).toEqual(poisoned);
    }
    // The word as a value, or a key that only resembles it, is fine.
    expect((await read(json('{"note":"__proto__","__proto":1,"\\u00e9":2}'))).body).toEqual({
      note: "__proto__",
      __proto: 1,
      é: 2,
    });
  });

  it("a constructor member holding a prototype member anywhere, plain or \\u-escaped → 400, as the detail says", async () => {
    const poisoned = invalidJson("Request body must not contain __proto__ or constructor.prototype");
    for (const text of [
      '{"constructor":{"prototype":{"x":1}}}',
      '{"action":{"params":{"constructor":{"prototype":{"x":1}}}}}',
      '[{"a":[{"c\\u006fnstructor" : {"prototype":null}}]}]',
      '{"constructor":{"pr\\u006ftotype":{}}}',
    ]) {
      expect((await read(json(text))).problem, text).toEqual(poisoned);
    }
    // A constructor that is no object, or has no prototype member, and a prototype member alone are fine.
    const fine = '{"constructor":"Acme","a":{"constructor":{"name":1}},"b":{"prototype":1},"c":{"constructor":null}}';
    expect((await read(json(fine))).body).toEqual(JSON.parse(fine));
  });

  it("a session frame holding constructor.prototype is refused by the same check", async () => {
    const validators = await loadMessageValidators();
    const call =
      '{"type":"tool_call","call_id":"c-1","tool_name":"read_file","arguments":{"constructor":{"prototype":{"x":1}}}}';
    expect(parseFrame(validators, "runtime_in", call, false).ok).toBe(false);
    const plain = '{"type":"tool_call","call_id":"c-1","tool_name":"read_file","arguments":{"constructor":"x"}}';
    expect(parseFrame(validators, "runtime_in", plain, false).ok).toBe(true);
  });

  it("a member name repeated in one object → 400 naming it, escaped or not, at any depth", async () => {
    const repeats = (name: string) => invalidJson(`Request body repeats the member name ${name}`);
    const cases: [string, string][] = [
      ['{"reason":"ok","reason":"not what the operator saw"}', '"reason"'],
      ['{"reason":"ok", "re\\u0061son" :"x"}', '"reason"'],
      ['{"a":[1,{"b":{"c":1,"c":2}}]}', '"c"'],
      ['[{"x":1},{"y":{"z":"\\"","z":0}}]', '"z"'],
      ['{"\\n":1,"\\u000a":2}', '"\\n"'],
      ['{"a\\u0062":1,"ab\\"":2,"ab":3}', '"ab"'],
      [`{"${"k".repeat(100)}":1,"${"k".repeat(100)}":2}`, `"${"k".repeat(64)}…"`],
    ];
    for (const [body, name] of cases) expect((await read(json(body), 4096)).problem).toEqual(repeats(name));
  });

  it("the same name in different objects, as a value, or inside a string is no repetition", async () => {
    const bodies = [
      '{"a":{"id":1},"b":{"id":2},"c":[{"id":3},{"id":4}]}',
      '{"a":"a","b":["a","a"],"c":{"a":"a"}}',
      '{"note":"\\"note\\":1,\\"note\\":2","x":"}{[\\\\"}',
      '{"a\\u0062":1,"ab\\"":2,"a\\\\b":3}',
    ];
    for (const body of bodies) expect((await read(json(body))).body).toEqual(JSON.parse(body));
  });

  it("a charset other than UTF-8 → 415 naming it", async () => {
    const r = await read(json('{"a":1}', { "content-type": "application/json; charset=iso-8859-1" }));
    expect(r.problem).toEqual({
      status: 415,
      code: "UNSUPPORTED_MEDIA_TYPE",
      detail: 'Unsupported charset "iso-8859-1": request bodies must be UTF-8 JSON',
    });
    expect(r.req.readableFlowing).toBeNull();
  });

  it("an unknown Content-Encoding → 415, unread", async () => {
    const r = await read(json('{"a":1}', { "content-encoding": "compress" }));
    expect(r.problem).toEqual({
      status: 415,
      code: "UNSUPPORTED_MEDIA_TYPE",
      detail: "Unsupported Content-Encoding: compress",
    });
    expect(r.req.readableFlowing).toBeNull();
  });

  it("a body that is not the gzip it claims → 400, not a 500", async () => {
    const r = await read(json('{"a":1}', { "content-encoding": "gzip" }));
    expect(r.problem).toEqual(invalidJson("Request body is not valid gzip data"));
  });

  it("fewer or more bytes than Content-Length → 400", async () => {
    const mismatch = { status: 400, code: undefined, detail: "request size did not match content length" };
    expect((await read(json('{"a":1}', { "content-length": "20" }))).problem).toEqual(mismatch);
    expect((await read(json('{"a":1}', { "content-length": "3" }))).problem).toEqual(mismatch);
  });
});

describe("the limit", () => {
  it("a body of exactly the limit is read; a Content-Length over it → 413 before a byte is read", async () => {
    const exact = `{"a":"${"x".repeat(LIMIT - 8)}"}`;
    expect((await read(json(exact))).body).toEqual({ a: "x".repeat(LIMIT - 8) });
    const r = await read(json(`{"a":"${"x".repeat(LIMIT)}"}`));
    expect(r.problem).toEqual(TOO_LARGE);
    expect(r.req.readableFlowing).toBeNull();
  });

  it("a chunked body → 413 as soon as it passes the limit, and the rest is not read", async () => {
    const chunk = `[${"1,".repeat(199)}1]`; // 400 bytes: the third chunk passes 1024
    const chunks = Array.from({ length: 50 }, () => chunk);
    const { ctx, req } = requestOf({
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
      chunks,
      open: true,
    });
    await expect(readJsonBody(ctx, { limitBytes: LIMIT })).rejects.toMatchObject(TOO_LARGE);
    expect(req.isPaused()).toBe(true);
    expect(req.readableLength).toBeGreaterThan(40 * chunk.length); // still queued, never consumed
  });

  it("a gzip bomb stops at the limit of DECOMPRESSED bytes → 413", async () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, " ")); // 50 MB of spaces in ~50 KB
    expect(bomb.length).toBeLessThan(100 * 1024);
    expect((await read(json(bomb, { "content-encoding": "gzip" }), 64 * 1024)).problem).toEqual(TOO_LARGE);
    // The compressed size is no guide: a body small on the wire is still counted as it decompresses.
    expect((await read(json(gzipSync(`[${"0,".repeat(2000)}0]`), { "content-encoding": "gzip" }))).problem).toEqual(
      TOO_LARGE,
    );
  });
});

describe("a client that goes away mid-body", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((ok) => (server ? server.close(() => ok()) : ok())));

  /** A server whose only route reads the body; resolves each read's outcome. */
  async function serve(): Promise<{ port: number; outcome: Promise<unknown> }> {
    let settle: (value: unknown) => void = () => {};
    const outcome = new Promise((ok) => (settle = ok));
    const koa = new Koa();
    koa.silent = true; // the aborted connection's own error is expected
    koa.use(async (ctx) => {
      await readJsonBody(ctx, { limitBytes: LIMIT }).then(
        () => settle({ body: (ctx.request as { body?: unknown }).body }),
        (err: HttpProblem) => settle({ status: err.status, detail: err.detail }),
      );
      ctx.body = { ok: true };
    });
    server = createServer(koa.callback());
    await new Promise<void>((ok) => server!.listen(0, "127.0.0.1", ok));
    return { port: (server.address() as AddressInfo).port, outcome };
  }

  for (const [name, headers, part] of [
    ["plain", "", Buffer.from('{"a":"xxxxxxxx')],
    ["gzip", "Content-Encoding: gzip\r\n", gzipSync(`{"a":"${"x".repeat(200)}"}`).subarray(0, 40)],
  ] as const) {
    it(`${name}: the read ends with 400 (nothing hangs or throws) and the server keeps serving`, async () => {
      const { port, outcome } = await serve();
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => {});
      socket.write(
        `POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}Content-Length: 500\r\n\r\n`,
      );
      socket.write(part);
      await new Promise((ok) => setTimeout(ok, 50));
      socket.destroy();
      expect(await outcome).toEqual({ status: 400, detail: "request aborted" });
      const next = await fetch(`http://127.0.0.1:${port}/`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(await next.json()).toEqual({ ok: true });
    });
  }
});

describe("a keep-alive client after a body refused mid-stream", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((ok) => (server ? server.close(() => ok()) : ok())));

  /** POSTs `chunks` (chunked, no Content-Length) on `agent`: the status, the Connection header and the body. */
  function post(port: number, agent: Agent, chunks: string[]) {
    return new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      const req = request({
        port,
        host: "127.0.0.1",
        method: "POST",
        agent,
        headers: { "content-type": "application/json" },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        let body = "";
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      });
      for (const chunk of chunks) req.write(chunk);
      req.end();
    });
  }

  it("the 413 closes the connection, and the client's next request is answered (not reset)", async () => {
    const koa = new Koa();
    koa.use(async (ctx) => {
      try {
        await readJsonBody(ctx, { limitBytes: LIMIT });
        ctx.body = { ok: true };
      } catch (err) {
        ctx.status = (err as HttpProblem).status;
        ctx.body = { detail: (err as HttpProblem).detail };
      }
    });
    server = createServer(koa.callback());
    await new Promise<void>((ok) => server!.listen(0, "127.0.0.1", ok));
    const { port } = server.address() as AddressInfo;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = `{"a":"${"x".repeat(LIMIT * 64)}"}`;
      const refused = await post(port, agent, [big.slice(0, LIMIT * 32), big.slice(LIMIT * 32)]);
      expect(refused).toMatchObject({ status: 413, connection: "close" });
      // Before, the connection stayed open with the rest of the body on it: the next request got ECONNRESET.
      expect(await post(port, agent, ["{}"])).toMatchObject({ status: 200, body: '{"ok":true}' });
    } finally {
      agent.destroy();
    }
  });
});
