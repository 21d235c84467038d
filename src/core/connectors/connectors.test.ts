import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { foldParamName } from "./http";
import { checkUrl, hostAllowed, isPrivateAddress } from "./network-guard";
import { createConnectors } from "./registry";
import { type ConnectorResult, NOT_SENT_FAILURES } from "./types";

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

let server: Server;
let base: string;
let received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const path = (req.url ?? "").split("?")[0];
      if (path === "/redirect") {
        res.writeHead(302, { location: "/target" }).end();
      } else if (path === "/big") {
        res.writeHead(200, { "content-type": "text/plain" }); // chunked: no content-length to trust
        const chunk = "x".repeat(64 * 1024);
        for (let i = 0; i < 20; i += 1) res.write(chunk);
        res.end();
      } else if (path === "/big-declared") {
        res.writeHead(200, { "content-type": "text/plain", "content-length": String(2 * 1024 * 1024) });
        res.end("x".repeat(2 * 1024 * 1024));
      } else if (path === "/slow") {
        setTimeout(() => res.writeHead(200).end("late"), 3_000).unref();
      } else if (path === "/drop") {
        req.socket.destroy(); // read the whole request, then hang up without an answer
      } else if (path === "/fail") {
        res.writeHead(500, { "content-type": "application/json" }).end('{"error":"boom"}');
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
});

const SECRET = "s3cr3t-token-value";
// The gateway's own key is in the source too: a secret_ref must never be able to reach it.
const connectors = createConnectors({
  secrets: {
    GATEHOUSE_SECRET_CRM_TOKEN: SECRET,
    PURUTO_GATEWAY_API_KEY: "gateway-key",
    GATEHOUSE_SECRET: "installation",
  },
});
const local = { allowed_hosts: ["127.0.0.1"], allow_private: true };

function call(
  type: string,
  config: Record<string, unknown>,
  params: Record<string, unknown> = {},
  signal = new AbortController().signal,
) {
  const connector = connectors(type);
  if (!connector) throw new Error(`no connector ${type}`);
  return connector({ tool: "t", params, config: { type, ...config }, signal });
}

function errorCode(result: ConnectorResult) {
  return result.success ? "success" : result.error?.code;
}

describe("echo, noop and the registry", () => {
  it("echo returns the params with a message_id and sent_at", async () => {
    const result = await call("echo", {}, { to: "customer@example.com", subject: "Hi" });
    expect(result.success).toBe(true);
    expect(result.data).toMatchObject({ to: "customer@example.com", subject: "Hi" });
    const data = result.data as { message_id: string; sent_at: string };
    expect(data.message_id).toMatch(/^msg-/);
    expect(Number.isNaN(Date.parse(data.sent_at))).toBe(false);
  });

  it("noop succeeds; unknown types and puruto without an invoker are not available", async () => {
    expect(await call("noop", {})).toEqual({ success: true, data: null });
    expect(connectors("smtp")).toBeUndefined();
    expect(connectors("puruto")).toBeUndefined();
  });

  it("puruto goes through the injected invoker and reports its failures", async () => {
    const calls: unknown[] = [];
    const registry = createConnectors({
      invokePuruto: async (target, command, payload) => {
        calls.push([target, command, payload]);
        if (command === "explode") throw Object.assign(new Error("command failed"), { code: "COMMAND_FAILED" });
        return { output: "synced" };
      },
    });
    const puruto = registry("puruto")!;
    const signal = new AbortController().signal;
    expect(
      await puruto({ tool: "sync", params: { since: "today" }, config: { puruto: "puruto-crm" }, signal }),
    ).toEqual({
      success: true,
      data: { output: "synced" },
    });
    expect(calls).toEqual([["puruto-crm", "sync", { since: "today" }]]);
    const failed = await puruto({
      tool: "x",
      params: {},
      config: { puruto: "puruto-crm", command: "explode" },
      signal,
    });
    expect(failed).toEqual({ success: false, error: { code: "COMMAND_FAILED", message: "command failed" } });
  });
});

describe("http / webhook connectors", () => {
  it("calls an allowed local receiver when the tool allows private addresses", async () => {
    const result = await call(
      "http",
      { ...local, url: `${base}/customers/{id}`, method: "GET" },
      { id: "c-42", fields: "name" },
    );
    expect(result.success).toBe(true);
    expect(result.data).toMatchObject({ method: "GET", url: "/customers/c-42?fields=name" });
  });

  it("blocks 127.0.0.1 by default, even when the host is allow-listed, without sending anything", async () => {
    const result = await call("http", { allowed_hosts: ["127.0.0.1"], url: `${base}/x` });
    expect(errorCode(result)).toBe("ADDRESS_BLOCKED");
    expect(received).toHaveLength(0);
  });

  it("denies hosts that are not allow-listed, and everything when there is no allow list", async () => {
    expect(errorCode(await call("http", { url: `${base}/x`, allow_private: true }))).toBe("HOST_NOT_ALLOWED");
    expect(
      errorCode(await call("http", { url: `${base}/x`, allow_private: true, allowed_hosts: ["api.example.com"] })),
    ).toBe("HOST_NOT_ALLOWED");
    expect(errorCode(await call("http", { url: "file:///etc/passwd", allowed_hosts: ["*"] }))).toBe("URL_NOT_ALLOWED");
    expect(received).toHaveLength(0);
  });

  it("checks every resolved address, IPv4 and IPv6, including IPv4-mapped loopback", async () => {
    const resolveTo = (addresses: string[]) =>
      createConnectors({
        lookup: async () => addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
      })("http")!;
    const config = { type: "http", url: "http://api.example.com/x", allowed_hosts: ["api.example.com"] };
    const signal = new AbortController().signal;
    for (const addresses of [["93.184.216.34", "10.0.0.5"], ["::ffff:127.0.0.1"], ["fe80::1"], ["169.254.169.254"]]) {
      const result = await resolveTo(addresses)({ tool: "t", params: {}, config, signal });
      expect(errorCode(result), addresses.join(",")).toBe("ADDRESS_BLOCKED");
    }
    expect(errorCode(await call("http", { url: "http://[::ffff:127.0.0.1]/", allowed_hosts: ["::ffff:7f00:1"] }))).toBe(
      "ADDRESS_BLOCKED",
    );
  });

  it("pins the connection to the checked resolution: a DNS answer that rebinds to loopback never reaches it", async () => {
    // A rebinding DNS server: an allowed address for the first question, the receiver's address afterwards.
    // A guard that checked one resolution and let the connection resolve again would reach the receiver.
    // No traffic leaves the machine: 127.0.0.2 plays the "public" address (nothing listens there) and only
    // 127.0.0.1 counts as blocked in this test.
    const asked: string[] = [];
    const rebinding = createConnectors({
      lookup: async (hostname) => {
        asked.push(hostname);
        const address = asked.length === 1 ? "127.0.0.2" : "127.0.0.1";
        return [{ address, family: 4 }];
      },
      isBlockedAddress: (address) => address === "127.0.0.1",
    })("http")!;
    const port = new URL(base).port;
    const config = {
      type: "http",
      url: `http://rebind.example:${port}/x`,
      allowed_hosts: ["rebind.example"],
      timeout_ms: 300,
    };
    const signal = new AbortController().signal;

    const first = await rebinding({ tool: "t", params: {}, config, signal });
    expect(first.success).toBe(false); // it went (only) to the checked address, where nothing answers
    expect(asked).toEqual(["rebind.example"]); // one resolution, used by both the check and the connection
    expect(received).toHaveLength(0);

    const second = await rebinding({ tool: "t", params: {}, config, signal });
    expect(errorCode(second)).toBe("ADDRESS_BLOCKED");
    expect(asked).toHaveLength(2);
    expect(received).toHaveLength(0);
  });

  it("checks every resolution the socket asks for, in both of net's lookup shapes", async () => {
    const { guardedLookup } = await import("./network-guard");
    let calls = 0;
    const lookup = guardedLookup({
      allowPrivate: false,
      lookup: async () => [{ address: calls++ === 0 ? "93.184.216.34" : "::1", family: calls === 1 ? 4 : 6 }],
    });
    const ask = (all: boolean) =>
      new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
        lookup("rebind.example", { all }, (err, address) => resolve({ err, address })),
      );
    expect(await ask(false)).toEqual({ err: null, address: "93.184.216.34" });
    const rebound = await ask(true);
    expect(rebound.err).toMatchObject({ code: "ADDRESS_BLOCKED", message: expect.stringContaining("::1") });
  });

  it("reaches a name that resolves to loopback only when the tool allows private addresses", async () => {
    const port = new URL(base).port;
    const toLoopback = createConnectors({ lookup: async () => [{ address: "127.0.0.1", family: 4 }] })("http")!;
    const config = { type: "http", url: `http://local.test:${port}/named`, allowed_hosts: ["local.test"] };
    const signal = new AbortController().signal;
    expect(errorCode(await toLoopback({ tool: "t", params: {}, config, signal }))).toBe("ADDRESS_BLOCKED");
    expect(received).toHaveLength(0);
    const allowed = await toLoopback({ tool: "t", params: {}, config: { ...config, allow_private: true }, signal });
    expect(allowed.success).toBe(true);
    expect(received.map((r) => [r.url, r.headers.host])).toEqual([["/named", `local.test:${port}`]]);
  });

  it("URL-encodes params so / stays inside its path segment (and ? or # are refused there)", async () => {
    const result = await call("http", { ...local, url: `${base}/items/{id}/view` }, { id: "up/admin x=1" });
    expect(result.success).toBe(true);
    expect(received[0]?.url).toBe("/items/up%2Fadmin%20x%3D1/view");
    const query = await call("http", { ...local, url: `${base}/items/{id}/view` }, { id: "up/admin?x=1#top" });
    expect(errorCode(query)).toBe("INVALID_PARAMS");
    expect(errorCode(await call("http", { ...local, url: `${base}/items/{id}` }, { id: ".." }))).toBe("INVALID_PARAMS");
    expect(errorCode(await call("http", { ...local, url: `${base}/items/{id}` }, {}))).toBe("INVALID_PARAMS");
  });

  it("refuses a query param name with brackets, which form parsers read as another param, without sending anything", async () => {
    // qs (Express), PHP and Rack read `to=ann@acme.com&to[1]=boss@evil.com` as `to: [ann, boss]`; the policy
    // judged `to` and a key `to[1]` that names no recipient.
    const config = { ...local, url: `${base}/notify` };
    for (const name of ["to[1]", "to[]", "payee[email]", "x]"])
      expect([name, errorCode(await call("http", config, { to: "ann@acme.com", [name]: "boss@evil.com" }))]).toEqual([
        name,
        "INVALID_PARAMS",
      ]);
    expect(received).toEqual([]);
    // In a JSON body a bracket is only a character of a key.
    expect((await call("http", { ...config, method: "POST" }, { "to[1]": "x" })).success).toBe(true);
  });

  it("refuses a param an upstream reads as the request's method (_method, X-HTTP-Method-Override), without sending anything", async () => {
    // Laravel and Symfony route `POST /records/rec-1` with `_method=DELETE` (body or query) as a DELETE: an allowed
    // update would run as the delete that needs an approval.
    const update = { ...local, url: `${base}/records/{record_id}`, method: "POST" };
    const result = await call("http", update, { record_id: "rec-1", _method: "DELETE" });
    expect(result.error).toMatchObject({ code: "INVALID_PARAMS", message: expect.stringContaining('"_method"') });
    expect(NOT_SENT_FAILURES.has(errorCode(result) ?? "")).toBe(true);
    const lookAlikes = [
      "_METHOD",
      " _method",
      "_method\u0000x",
      "\uff3f\uff4d\uff45\uff54\uff48\uff4f\uff44",
      "_meth\u0301od",
    ];
    const headerNames = ["X-HTTP-Method-Override", "x_http_method", "X-Method-Override", "%5Fmethod", ".method"];
    for (const name of [...lookAlikes, ...headerNames]) {
      const get = { ...local, url: `${base}/records/{record_id}` };
      expect([name, errorCode(await call("http", get, { record_id: "rec-1", [name]: "DELETE" }))]).toEqual([
        name,
        "INVALID_PARAMS",
      ]);
      expect([name, errorCode(await call("http", update, { record_id: "rec-1", [name]: "DELETE" }))]).toEqual([
        name,
        "INVALID_PARAMS",
      ]);
    }
    // A webhook's body carries every param, the one its url's placeholder takes too.
    const hook = { ...local, url: `${base}/hook/{_method}` };
    expect(errorCode(await call("webhook", hook, { _method: "DELETE" }))).toBe("INVALID_PARAMS");
    expect(errorCode(await call("webhook", { ...local, url: `${base}/hook` }, { _Method: "PUT" }))).toBe(
      "INVALID_PARAMS",
    );
    expect(received).toEqual([]);
    // Names that only resemble it are data and still go.
    const data = { record_id: "rec-1", method: "card", payment_method: "sepa", _method_note: "x", "X-Custom": "v" };
    expect((await call("http", update, data)).success).toBe(true);
    expect(received[0]).toMatchObject({ method: "POST", url: "/records/rec-1" });
    expect(JSON.parse(received[0]?.body ?? "")).toEqual({
      method: "card",
      payment_method: "sepa",
      _method_note: "x",
      "X-Custom": "v",
    });
    // Params never set headers: a param named like one stays in the body.
    expect(received[0]?.headers["x-custom"]).toBeUndefined();
  });

  it("refuses a method override nested at any depth of a param's value, and lets similar names and values go", async () => {
    // Form parsers turn `data[_method]` into a nested key and back, and a middleware unwrapping `{data: {...}}`
    // reads its inner level as the top one: an allowed update would run as the delete that needs an approval.
    const update = { ...local, url: `${base}/records/{record_id}`, method: "POST" };
    const get = { ...local, url: `${base}/records/{record_id}` };
    const hook = { ...local, url: `${base}/hook` };
    const nested = [
      { data: { _method: "DELETE" } },
      { data: { attributes: { x: 1, _METHOD: "DELETE" } } },
      { items: [{ id: 1 }, { "X-HTTP-Method-Override": "DELETE" }] },
      { batch: [[{ "%5Fmethod": "PUT" }]] },
      { a: { b: { c: { d: { e: { f: { g: { h: { ".method": "DELETE" } } } } } } } } },
    ];
    for (const params of nested)
      for (const config of [update, get, hook]) {
        const result = await call(config === hook ? "webhook" : "http", config, { record_id: "rec-1", ...params });
        expect([params, errorCode(result)]).toEqual([params, "INVALID_PARAMS"]);
        expect(NOT_SENT_FAILURES.has(errorCode(result) ?? "")).toBe(true);
      }
    const result = await call("http", update, { record_id: "rec-1", data: { attributes: { _method: "DELETE" } } });
    expect(result.error?.message).toContain('param "_method" (inside param "data.attributes")');
    expect(received).toEqual([]);
    // Nested names that only resemble it, and `_method` as a value (a key is a name, a value is data), go.
    const payload = {
      record_id: "rec-1",
      http_method: "GET",
      order: { method: "card", payment_method: "sepa", http_method: "POST", _method_note: "x", note: "_method" },
      tags: ["_method", { shipping_method: "post" }],
    };
    expect((await call("http", update, payload)).success).toBe(true);
    const { record_id: _, ...body } = payload;
    expect(JSON.parse(received[0]?.body ?? "")).toEqual(body);
    expect((await call("webhook", hook, payload)).success).toBe(true);
    expect(JSON.parse(received[1]?.body ?? "")).toEqual(payload);
  });

  it("refuses a query param name with a dot, which model binders read as a nested param, without sending anything", async () => {
    // ASP.NET Core, Spring and qs (allowDots) bind `price.value=5000` as `price: {value: 5000}`; the policy read a
    // flat key `price.value` it does not judge as money.
    const config = { ...local, url: `${base}/orders` };
    for (const name of ["price.value", "price%2Evalue", ".x", "a."])
      expect([name, errorCode(await call("http", config, { [name]: 5000 }))]).toEqual([name, "INVALID_PARAMS"]);
    expect(received).toEqual([]);
    // In a JSON body a dot is only a character of a key.
    expect((await call("http", { ...config, method: "POST" }, { "price.value": 5000 })).success).toBe(true);
  });

  it("refuses a query param name with a %, which a chain that decodes twice reads as another name, without sending anything", async () => {
    // `am%6Fu%6Et` goes as `am%256Fu%256Et`: `amount` to a server behind a proxy that decodes too, money the policy
    // never judged (it read the key `am%6Fu%6Et`). A `%` that does not decode as a whole is refused as well: lenient
    // decoders (PHP's urldecode, Python's unquote) decode the valid escapes of `am%6Fu%6Et%` all the same.
    const config = { ...local, url: `${base}/pay` };
    for (const name of ["am%6Fu%6Et", "am%6Fu%6Et%", "%74o", "100%", "a%20b"])
      expect([name, errorCode(await call("http", config, { [name]: 5000, currency: "EUR" }))]).toEqual([
        name,
        "INVALID_PARAMS",
      ]);
    expect(received).toEqual([]);
    // A `%` in a value is data, and in a JSON body a `%` is only a character of a key.
    expect((await call("http", config, { note: "100%" })).success).toBe(true);
    expect((await call("http", { ...config, method: "POST" }, { "am%6Fu%6Et": 5 })).success).toBe(true);
    expect(received.map((r) => r.url)).toEqual(["/pay?note=100%25", "/pay"]);
  });

  it("reads a dotted placeholder as a path into the params, as recipient_params do, never as a literal key", async () => {
    const config = { ...local, url: `${base}/send/{payee.email}/{items.1}`, method: "POST" };
    const params = { "payee.email": "evil@evil.com", payee: { email: "ann@acme.com" }, items: ["a", "b"] };
    expect((await call("http", config, params)).success).toBe(true);
    expect(received[0]?.url).toBe("/send/ann%40acme.com/b");
    // A literal key alone is not the path, and an array is indexed by number only (not `length`).
    expect(errorCode(await call("http", config, { "payee.email": "evil@evil.com", items: ["a", "b"] }))).toBe(
      "INVALID_PARAMS",
    );
    const length = { ...config, url: `${base}/send/{payee.email}/{items.length}` };
    expect(errorCode(await call("http", length, params))).toBe("INVALID_PARAMS");
    expect(received).toHaveLength(1);
  });

  it("refuses a path param that climbs once its encoded slashes are decoded, without sending anything", async () => {
    // `/items/..%2Fadmin` is `/admin` behind a proxy that decodes %2F and resolves dot segments (nginx proxy_pass
    // with a URI, for one): the call would reach a path the tool does not name.
    const config = { ...local, url: `${base}/items/{id}/view?q={q}` };
    const encoded = ["%2e%2e", "..%2f..%2fadmin", "%2E%2E%5Cadmin", "x%2F.%2Fy", "100%", "%E0%A4%A"];
    for (const id of ["../admin", "a/../../admin", "..\\admin", "x/./y", "\u2025/admin", "..\uff0fadmin", ...encoded])
      expect([id, errorCode(await call("http", config, { id, q: "x" }))]).toEqual([id, "INVALID_PARAMS"]);
    expect(received).toEqual([]);
    // A slash alone stays inside its segment, and a query value may hold any text.
    expect((await call("http", config, { id: "docs/a.txt", q: "../notes" })).success).toBe(true);
    expect(received[0]?.url).toBe("/items/docs%2Fa.txt/view?q=..%2Fnotes");
    // An encoded value that decodes to no dot segment goes, encoded once more.
    expect((await call("http", config, { id: "a%20b..c", q: "%2e%2e" })).success).toBe(true);
    expect(received[1]?.url).toBe("/items/a%2520b..c/view?q=%252e%252e");
  });

  it("refuses a path param that climbs once percent-decoded several times, without sending anything", async () => {
    // `%252e%252e` is `%2e%2e` to a proxy that decodes once and `..` to the server behind it that decodes again:
    // how many times the chain decodes is not ours to know, so every stage is read.
    const config = { ...local, url: `${base}/items/{id}/view?q={q}` };
    const layered = ["%252e%252e", "%25252e%25252e", "..%252f..%252fadmin", "x%252F.%252Fy", "%25E2%2580%25A5"];
    // A `%` that does not decode at a later stage (lenient decoders read `%2e%2e%2f%` as `../%`), and a value
    // still changing after 5 decodings (`A` under 6 layers).
    const undecodable = ["%252e%252e%252f%25", "%25E0%25A4%25A", `%${"25".repeat(5)}41`];
    for (const id of [...layered, ...undecodable]) {
      const result = await call("http", config, { id, q: "x" });
      expect([id, errorCode(result)]).toEqual([id, "INVALID_PARAMS"]);
      expect(result.error?.message).toContain('param "id"');
    }
    expect(received).toEqual([]);
    // Layers that end in no dot segment go, encoded once more; and so do 5 layers exactly.
    expect((await call("http", config, { id: "a%2520b..c", q: "x" })).success).toBe(true);
    expect(received[0]?.url).toBe("/items/a%252520b..c/view?q=x");
    expect((await call("http", config, { id: `%${"25".repeat(4)}41`, q: "x" })).success).toBe(true);
    // A query value is no path: layers of encoding there are text.
    expect((await call("http", config, { id: "x", q: "%252e%252e" })).success).toBe(true);
    expect(received).toHaveLength(3);
  });

  it("refuses a path param holding ? or # in any decoded form, without sending anything", async () => {
    // A proxy that percent-decodes before it splits the URL reads `x%3Famount=5000` as a query the policy did not
    // judge, and `acct_1%2Ftransfers%23` as another endpoint with its end cut off.
    const config = { ...local, url: `${base}/accounts/{id}/balance?q={q}` };
    for (const id of ["x?amount=5000", "x%3Famount=5000", "x%253Famount", "acct_1/transfers#", "x%23", "x\uFF1Fy"]) {
      const result = await call("http", config, { id: JSON.parse(`"${id}"`), q: "x" });
      expect([id, errorCode(result)]).toEqual([id, "INVALID_PARAMS"]);
      expect(result.error?.message).toContain('"?" or "#"');
    }
    expect(received).toEqual([]);
    // In a query value they are text, and a path value without them goes (a slash goes encoded, as GitLab's ids).
    expect((await call("http", config, { id: "group/project", q: "a?b#c" })).success).toBe(true);
    expect(received[0]?.url).toBe("/accounts/group%2Fproject/balance?q=a%3Fb%23c");
  });

  it("reads a param name through several percent-decodings, as a chain of proxies and servers may", async () => {
    // `%255Fmethod` goes as `%25255Fmethod`: `_method` to a chain decoding three times, as `%252e%252e` is `..`.
    const update = { ...local, url: `${base}/records/{record_id}`, method: "POST" };
    const get = { ...local, url: `${base}/mail/get?kind=x` };
    const names: [Record<string, unknown>, string][] = [
      [update, "%255Fmethod"],
      [update, "%2525255Fmethod"],
      [{ ...update, method: "GET" }, "X-HTTP-Method%2525252DOverride"],
      [get, "%256Bind"],
      [get, "price%25252Evalue"],
    ];
    for (const [config, name] of names)
      expect([name, errorCode(await call("http", config, { record_id: "rec-1", [name]: "DELETE" }))]).toEqual([
        name,
        "INVALID_PARAMS",
      ]);
    expect(received).toEqual([]);
    // Names that decode to ordinary ones still go.
    expect((await call("http", update, { record_id: "rec-1", "payment%255Fmethod": "sepa" })).success).toBe(true);
    expect(JSON.parse(received[0]?.body ?? "")).toEqual({ "payment%255Fmethod": "sepa" });
  });

  it("refuses a param that would repeat a query parameter the url fixes, without sending anything", async () => {
    // `?account=main&account=treasury`: many servers read the last value, so the agent would pick the account.
    const config = { ...local, url: `${base}/balance?account=main&q={q}` };
    const result = await call("http", config, { q: "x", account: "treasury" });
    expect(errorCode(result)).toBe("INVALID_PARAMS");
    expect(NOT_SENT_FAILURES.has(errorCode(result) ?? "")).toBe(true);
    expect(received).toEqual([]);
    // Other unused params still go as the query string, beside the fixed ones.
    expect((await call("http", config, { q: "x", limit: 5 })).success).toBe(true);
    expect(received[0]?.url).toBe("/balance?account=main&q=x&limit=5");
  });

  it("refuses a param an upstream could read as a query parameter the url fixes (Kind, ' kind', kind\\0, ｋｉｎｄ)", async () => {
    // Sent as `&Kind=y`, `&+kind=y`, `&kind%00=y`: ASP.NET reads query names case-insensitively, PHP strips leading
    // spaces, cuts at NUL and turns `.`/space into `_`; to them the agent set `kind`, which the operator fixed.
    const config = { ...local, url: `${base}/mail/get?kind=x` };
    const lookAlikes = [
      "Kind",
      "KIND",
      " kind",
      "kind\u0000",
      "kind\u0000x",
      "\uff4b\uff49\uff4e\uff44",
      "kind.",
      "kind\t",
    ];
    for (const name of [...lookAlikes, "kind\u200b", "\u212aind", "kind[x]", "kind%00"]) {
      const result = await call("http", config, { [name]: "y" });
      expect([name, errorCode(result)]).toEqual([name, "INVALID_PARAMS"]);
      // The agent is told which of its params, and which fixed parameter it would have overridden.
      expect(result.error?.message).toContain(`param ${JSON.stringify(name)} cannot be sent`);
      expect(result.error?.message).toContain('query parameter "kind"');
    }
    expect(received).toEqual([]);
    // Folding applies to the url's own names too, and to a query value a placeholder filled (judged as `kind`).
    for (const url of [`${base}/mail/get?Kind=x`, `${base}/mail/get?kind={kind}`]) {
      expect(errorCode(await call("http", { ...local, url }, { kind: "x", "KIND ": "y" }))).toBe("INVALID_PARAMS");
    }
    // In a JSON body too (servers that merge body and query), and a webhook's.
    expect(errorCode(await call("http", { ...config, method: "POST" }, { " Kind": "y" }))).toBe("INVALID_PARAMS");
    expect(errorCode(await call("webhook", config, { "KIND\u0000": "y" }))).toBe("INVALID_PARAMS");
    expect(received).toEqual([]);
    // Names that only share a prefix are other params and still go.
    expect((await call("http", config, { kinds: "y", kind_id: 2, kind2: 3 })).success).toBe(true);
    expect(received.map((r) => r.url)).toEqual(["/mail/get?kind=x&kinds=y&kind_id=2&kind2=3"]);
  });

  it.each(["accountId", "AccountID", "accountID", "account-id", "ACCOUNT_ID", "account__id", "_account-id"])(
    "refuses a body param %j beside the url's fixed ?account_id=main, without sending anything",
    async (name) => {
      // Rails with olive_branch, Pydantic aliases and ASP.NET binders read camelCase and kebab-case as snake_case,
      // and merge the body over the query: the agent would choose the account the operator fixed.
      const config = { ...local, url: `${base}/transfers?account_id=main`, method: "POST" };
      const result = await call("http", config, { [name]: "attacker", amount: 50 });
      expect(errorCode(result)).toBe("INVALID_PARAMS");
      expect(result.error?.message).toContain('query parameter "account_id"');
      expect(received).toEqual([]);
    },
  );

  it("refuses a query param spelled like the url's fixed one in another case style, and the other way round", async () => {
    for (const [url, name] of [
      [`${base}/accounts?account_id=main`, "accountId"],
      [`${base}/accounts?accountId=main`, "account_id"],
      [`${base}/accounts?account-id=main`, "AccountID"],
    ] as const)
      expect([url, name, errorCode(await call("http", { ...local, url }, { [name]: "x" }))]).toEqual([
        url,
        name,
        "INVALID_PARAMS",
      ]);
    expect(received).toEqual([]);
    // Another name still goes beside it.
    expect(
      (await call("http", { ...local, url: `${base}/accounts?account_id=main` }, { account_ids: "x" })).success,
    ).toBe(true);
    expect(received.map((r) => r.url)).toEqual(["/accounts?account_id=main&account_ids=x"]);
  });

  it("folds param names as upstreams read them", () => {
    for (const name of [
      "Kind",
      " kind",
      "kind\u0000evil",
      "\uff2b\uff29\uff2e\uff24",
      "kind.",
      "kind\t",
      "\u0085kind\u007f",
      "kınd",
      "kind[0]",
    ])
      expect([name, foldParamName(name)]).toEqual([name, "kind"]);
    // As the policy folds keys (foldKey): separators anywhere are dropped, so every case style is one name.
    for (const name of [
      "account_id",
      "accountId",
      "AccountID",
      "account-id",
      "account.id",
      "account id",
      "_account_id_",
    ])
      expect([name, foldParamName(name)]).toEqual([name, "accountid"]);
    expect(foldParamName("a.b c[d")).toBe("abcd");
    expect(foldParamName("kind_id")).not.toBe(foldParamName("kind"));
  });

  it("refuses a body param named like a query parameter the url fixes, without sending anything", async () => {
    // Servers that merge body and query (Rails' params, PHP's $_REQUEST) would read the body's value.
    const config = { ...local, url: `${base}/transfer?account=main`, method: "POST" };
    const result = await call("http", config, { amount: 5, account: "treasury" });
    expect(errorCode(result)).toBe("INVALID_PARAMS");
    expect(received).toEqual([]);
    expect((await call("http", config, { amount: 5 })).success).toBe(true);
    expect(received[0]).toMatchObject({ url: "/transfer?account=main", body: '{"amount":5}' });
    // A webhook sends every param in its body: the same rule, except for a param its url's own placeholder takes.
    const hook = { ...local, url: `${base}/hook?account=main&ref={ref}` };
    expect(errorCode(await call("webhook", hook, { ref: "r1", account: "treasury" }))).toBe("INVALID_PARAMS");
    expect(received).toHaveLength(1);
    expect((await call("webhook", hook, { ref: "r1", amount: 5 })).success).toBe(true);
    expect(received[1]?.url).toBe("/hook?account=main&ref=r1");
  });

  it("sends unused params as a JSON body on POST, and all params on a webhook", async () => {
    await call("http", { ...local, url: `${base}/items/{id}`, method: "POST" }, { id: "7", status: "contacted" });
    expect(received[0]).toMatchObject({ method: "POST", url: "/items/7", body: '{"status":"contacted"}' });
    await call("webhook", { ...local, url: `${base}/hook` }, { event: "sent", id: 1 });
    expect(received[1]).toMatchObject({ method: "POST", url: "/hook" });
    expect(JSON.parse(received[1]?.body ?? "")).toEqual({ event: "sent", id: 1 });
    expect(received[1]?.headers["content-type"]).toBe("application/json");
  });

  it("does not follow redirects", async () => {
    const result = await call("http", { ...local, url: `${base}/redirect` });
    expect(errorCode(result)).toBe("REDIRECT_NOT_FOLLOWED");
    expect(received.map((r) => r.url)).toEqual(["/redirect"]);
  });

  it("caps the response at 1 MiB, streamed or declared", async () => {
    expect(errorCode(await call("http", { ...local, url: `${base}/big` }))).toBe("RESPONSE_TOO_LARGE");
    expect(
      errorCode(await call("http", { ...local, url: `${base}/big-declared`, max_response_bytes: 50 * 1024 * 1024 })),
    ).toBe("RESPONSE_TOO_LARGE");
  });

  it("times out a slow upstream", async () => {
    const started = Date.now();
    const result = await call("http", { ...local, url: `${base}/slow`, timeout_ms: 150 });
    expect(errorCode(result)).toBe("TIMEOUT");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("stops when the caller cancels", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect(errorCode(await call("http", { ...local, url: `${base}/slow` }, {}, controller.signal))).toBe("CANCELLED");
  });

  it("tells a connection refused (nothing sent) from one lost after the request went out", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await call("http", { ...local, url: `http://127.0.0.1:${port}/x` });
    expect(refused.error).toMatchObject({
      code: "UPSTREAM_UNREACHABLE",
      message: expect.stringContaining("ECONNREFUSED"),
    });
    expect(NOT_SENT_FAILURES.has(errorCode(refused)!)).toBe(true);

    const lost = await call("webhook", { ...local, url: `${base}/drop` }, { amount: 5 });
    expect(received.map((r) => r.url)).toEqual(["/drop"]); // it did arrive
    expect(errorCode(lost)).toBe("UPSTREAM_CONNECTION_LOST");
    expect(NOT_SENT_FAILURES.has(errorCode(lost)!)).toBe(false);
  });

  it("reports upstream errors with their status", async () => {
    const result = await call("http", { ...local, url: `${base}/fail` });
    expect(result).toEqual({
      success: false,
      data: { status: 500, body: { error: "boom" } },
      error: { code: "UPSTREAM_HTTP_ERROR", message: "Upstream answered HTTP 500" },
    });
  });

  it("injects secret headers at call time and never returns the secret, even when upstream echoes it", async () => {
    const config = {
      ...local,
      url: `${base}/echo`,
      headers: { Authorization: { secret_ref: "GATEHOUSE_SECRET_CRM_TOKEN", prefix: "Bearer " }, "X-Static": "v1" },
    };
    const result = await call("http", config);
    expect(received[0]?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(received[0]?.headers["x-static"]).toBe("v1");
    expect(result.success).toBe(true);
    expect(JSON.stringify(result)).not.toContain(SECRET);
    expect((result.data as { headers: Record<string, string> }).headers.authorization).toBe("Bearer [redacted]");
    expect(JSON.stringify(config)).not.toContain(SECRET); // the config is not mutated with the value

    const missing = await call("http", {
      ...local,
      url: `${base}/echo`,
      headers: { Authorization: { secret_ref: "GATEHOUSE_SECRET_NOPE" } },
    });
    expect(errorCode(missing)).toBe("SECRET_MISSING");
    expect(received).toHaveLength(1);
  });

  it("refuses a header value a request cannot carry (CR, LF, NUL…) as misconfigured, without sending anything", async () => {
    const url = `${base}/echo`;
    const injected = await call("http", { ...local, url, headers: { "X-Static": "v1\r\nX-Injected: 1" } });
    expect(errorCode(injected)).toBe("CONNECTOR_MISCONFIGURED");
    // A secret read from a file often ends in a newline: named, never shown.
    const http = connectors("http")!;
    const secretRef = { secret_ref: "GATEHOUSE_SECRET_CRM_TOKEN", prefix: "Bearer " };
    const trailing = await http({
      tool: "t",
      params: {},
      config: { type: "http", ...local, url, headers: { Authorization: secretRef } },
      secrets: { GATEHOUSE_SECRET_CRM_TOKEN: "tok-with-newline\n" },
      signal: new AbortController().signal,
    });
    expect(trailing.error).toMatchObject({
      code: "CONNECTOR_MISCONFIGURED",
      message: expect.stringContaining("GATEHOUSE_SECRET_CRM_TOKEN"),
    });
    expect(JSON.stringify(trailing)).not.toContain("tok-with-newline");
    for (const result of [injected, trailing]) expect(NOT_SENT_FAILURES.has(errorCode(result)!)).toBe(true);
    expect(received).toHaveLength(0);
  });

  it("refuses a secret_ref outside GATEHOUSE_SECRET_*, even when the variable exists, without sending anything", async () => {
    for (const ref of [
      "PURUTO_GATEWAY_API_KEY",
      "GATEHOUSE_SECRET",
      "GATEHOUSE_SECRETX_Y",
      "gatehouse_secret_crm_token",
    ]) {
      const result = await call("http", {
        ...local,
        url: `${base}/echo`,
        headers: { Authorization: { secret_ref: ref } },
      });
      expect(errorCode(result), ref).toBe("SECRET_NOT_ALLOWED");
      expect(JSON.stringify(result)).not.toMatch(/gateway-key|installation/);
    }
    expect(received).toHaveLength(0);
    // The lookup itself refuses too, so no other caller can read such a variable through it.
    const { resolveSecret, secretsFromEnvironment } = await import("./types");
    expect(resolveSecret({ PURUTO_GATEWAY_API_KEY: "gateway-key" }, "PURUTO_GATEWAY_API_KEY")).toBeUndefined();
    const fromEnv = secretsFromEnvironment({
      GATEHOUSE_SECRET: "installation",
      GATEHOUSE_SECRET_CRM_TOKEN: SECRET,
    }) as (name: string) => string | undefined;
    expect(fromEnv("GATEHOUSE_SECRET")).toBeUndefined();
    expect(fromEnv("GATEHOUSE_SECRET_CRM_TOKEN")).toBe(SECRET);
  });
});

describe("network guard", () => {
  it("classifies special-purpose addresses", () => {
    for (const address of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "0.0.0.0",
      "100.64.0.1",
      "::1",
      "::",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "fe80::1",
      "fc00::1",
      "fd12::1",
      "ff02::1",
      "not-an-ip",
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });

  it("judges NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses by the IPv4 address they carry", () => {
    // 127.0.0.1, 169.254.169.254 (cloud metadata), 10.1.2.3 and 192.168.0.1, in each IPv6 form.
    for (const address of [
      "64:ff9b::7f00:1",
      "64:ff9b::127.0.0.1",
      "64:ff9b::a9fe:a9fe",
      "64:ff9b::a01:203",
      "2002:7f00:1::",
      "2002:a9fe:a9fe::1",
      "2002:c0a8:1:5::9",
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    // The same forms of public addresses (8.8.8.8, 93.184.216.34) stay reachable.
    for (const address of ["64:ff9b::808:808", "64:ff9b::93.184.216.34", "2002:808:808::1"]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });

  it("refuses every Teredo address (2001:0::/32), whatever IPv4 addresses it carries", () => {
    // Server 127.0.0.1 / client 127.0.0.1 (stored XOR 0xffffffff: 80ff:fffe); server 8.8.8.8 / client
    // 169.254.169.254 (5601:5601); RFC 4380's own example (server 65.54.227.120, client 192.0.2.45); and one
    // carrying only public addresses (server 8.8.8.8, client 93.184.216.34: a247:27dd).
    for (const address of [
      "2001:0:7f00:1::80ff:fffe",
      "2001:0:808:808:8000:ffff:5601:5601",
      "2001:0:4136:e378:8000:63bf:3fff:fdd2",
      "2001:0:808:808::a247:27dd",
      "2001::1",
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    expect(
      checkUrl(new URL("http://[2001:0:7f00:1::80ff:fffe]/"), {
        allowedHosts: ["2001:0:7f00:1::80ff:fffe"],
        allowPrivate: false,
      }),
    ).toMatchObject({ ok: false, code: "ADDRESS_BLOCKED" });
    // Its neighbours in 2001::/23 that are ordinary global unicast stay reachable.
    for (const address of ["2001:4860:4860::8888", "2001:1::3"]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });

  it("judges ISATAP (…:0:5efe:a.b.c.d, …:200:5efe:a.b.c.d) and SIIT (::ffff:0:a.b.c.d) by their IPv4 address", () => {
    for (const address of [
      "2600::5efe:7f00:1",
      "2600:1:2:3:0:5efe:169.254.169.254",
      "2600:1:2:3:200:5efe:a00:1",
      "2600:1:2:3:100:5efe:c0a8:1",
      "::ffff:0:7f00:1",
      "::ffff:0:169.254.169.254",
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ["2600:1:2:3:0:5efe:808:808", "2600:1:2:3:200:5efe:5db8:d822", "::ffff:0:808:808"]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });

  it("refuses IPv4-compatible ::a.b.c.d outright (deprecated: no public service uses it), and special IPv6 ranges", () => {
    for (const address of ["::127.0.0.1", "::8.8.8.8", "::a9fe:a9fe", "2001:2::1", "3fff::1", "3fff:fff:ffff::1"]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    expect(isPrivateAddress("4000::1")).toBe(false);
  });

  it("matches allow-list entries exactly or by subdomain wildcard", () => {
    expect(hostAllowed("api.example.com", ["api.example.com"])).toBe(true);
    expect(hostAllowed("API.Example.com", ["api.example.com"])).toBe(true);
    expect(hostAllowed("a.example.com", ["*.example.com"])).toBe(true);
    expect(hostAllowed("example.com", ["*.example.com"])).toBe(false);
    expect(hostAllowed("evilexample.com", ["*.example.com"])).toBe(false);
    expect(hostAllowed("api.example.com.evil.io", ["api.example.com"])).toBe(false);
  });
});

describe("connector config validation (registration time)", () => {
  it("accepts the vocabulary the connectors read", async () => {
    const { validateConnectorConfig } = await import("./validation");
    expect(validateConnectorConfig({ type: "echo" })).toEqual([]);
    expect(
      validateConnectorConfig({
        type: "http",
        url: "https://api.example.com/customers/{id}",
        method: "PATCH",
        headers: { Authorization: { secret_ref: "GATEHOUSE_SECRET_CRM_TOKEN", prefix: "Bearer " }, "X-Static": "v1" },
        allowed_hosts: ["api.example.com"],
        allow_private: false,
        timeout_ms: 5000,
        max_response_bytes: 65536,
      }),
    ).toEqual([]);
    expect(
      validateConnectorConfig({
        type: "webhook",
        url: "https://hooks.example.com/x",
        allowed_hosts: ["*.example.com"],
      }),
    ).toEqual([]);
    expect(validateConnectorConfig({ type: "puruto", puruto: "puruto-financial", command: "balance" })).toEqual([]);
  });

  it("lists every problem with a pointer, including old field names and settings that would refuse every call", async () => {
    const { validateConnectorConfig } = await import("./validation");
    const problems = validateConnectorConfig({
      type: "http",
      url: "http://{host}.example.com/x",
      method: "TRACE",
      headers: { Authorization: { secret_ref: "not a name" }, "Bad Header": "x" },
      allowed_domains: ["api.example.com"],
      timeout_ms: 120_000,
      max_response_bytes: 0,
      allow_private: "yes",
    });
    const pointers = problems.map((p) => p.pointer);
    expect(pointers).toEqual(
      expect.arrayContaining([
        "/allowed_domains",
        "/allowed_hosts",
        "/url",
        "/method",
        "/headers/Authorization/secret_ref",
        "/headers/Bad Header",
        "/timeout_ms",
        "/max_response_bytes",
        "/allow_private",
      ]),
    );
    expect(problems.find((p) => p.pointer === "/allowed_domains")?.message).toContain("allowed_hosts");
    for (const ref of ["PURUTO_GATEWAY_API_KEY", "GATEHOUSE_SECRET", "DATABASE_URL"]) {
      expect(
        validateConnectorConfig({
          type: "webhook",
          url: "https://hooks.example.com/x",
          allowed_hosts: ["hooks.example.com"],
          headers: { Authorization: { secret_ref: ref } },
        }),
        ref,
      ).toEqual([
        { pointer: "/headers/Authorization/secret_ref", message: expect.stringContaining("GATEHOUSE_SECRET_*") },
      ]);
    }
    expect(
      validateConnectorConfig({ type: "http", url: "https://other.example/x", allowed_hosts: ["api.example.com"] }),
    ).toEqual([{ pointer: "/url", message: expect.stringContaining("not in allowed_hosts") }]);
    expect(
      validateConnectorConfig({ type: "webhook", url: "ftp://x/y", allowed_hosts: ["x"], method: "GET" }).map(
        (p) => p.pointer,
      ),
    ).toEqual(["/url", "/method"]);
    expect(validateConnectorConfig({ type: "puruto", url: "https://x" }).map((p) => p.pointer)).toEqual([
      "/url",
      "/puruto",
      "/command",
    ]);
    // A header value node:http would refuse at every call (CR/LF, NUL, characters beyond Latin-1).
    expect(
      validateConnectorConfig({
        type: "http",
        url: "https://api.example.com/x",
        allowed_hosts: ["api.example.com"],
        headers: {
          "X-Static": "v1\r\nX-Injected: 1",
          "X-Euro": "5 \u20ac",
          Authorization: { secret_ref: "GATEHOUSE_SECRET_CRM_TOKEN", prefix: "Bearer\n" },
        },
      }).map((p) => p.pointer),
    ).toEqual(["/headers/X-Static", "/headers/X-Euro", "/headers/Authorization/prefix"]);
    expect(validateConnectorConfig({ type: "smtp" })).toEqual([
      { pointer: "/type", message: expect.stringContaining("echo, noop") },
    ]);
  });
});
