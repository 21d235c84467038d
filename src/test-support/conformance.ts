// Test support: the contract checked on live traffic. Every HTTP response a Gatehouse started by the test support
// gives is checked against generated/openapi.json (the status is documented for the operation, the content type is
// the documented one, a JSON body matches the documented schema, documented required headers are present), every
// refused WebSocket upgrade against the status table of spec/sessions.asyncapi.yaml, and every frame Gatehouse
// sends to an IDE against the AsyncAPI message schemas. Violations are collected; the test support fails the
// suite with them when the server is disposed (afterAll), so no suite can pass on traffic the contract denies.
//
// It taps the node:http server from outside (response writes, upgrade socket writes) instead of hooking the
// application: what is checked is exactly what went on the wire.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { EventEmitter } from "node:events";
import * as wsModule from "ws";
import { loadMessageValidators, type MessageValidators } from "../faces/sessions/schemas";
import { sessionUpgradeSegment } from "../faces/sessions/upgrade-handler";
import { loadSpec, type LoadedSpec, type OperationSpec } from "../http/spec";

/** ws's frame parser (exported at run time, absent from @types/ws). */
interface FrameParser extends EventEmitter {
  write(chunk: Buffer): boolean;
}
const Receiver = (wsModule as unknown as { Receiver: new (options: object) => FrameParser }).Receiver;

/** Bodies larger than this are not kept for schema validation (status, type and headers are still checked). */
const MAX_CAPTURED_BYTES = 16 * 1024 * 1024;

/** Statuses a refused WS upgrade may answer (spec/sessions.asyncapi.yaml, "Connecting"). */
export const DOCUMENTED_UPGRADE_STATUSES = new Set([400, 401, 403, 404, 405, 421, 429, 503]);

export interface Violation {
  where: string;
  problem: string;
}

export interface ConformanceTap {
  violations: Violation[];
  /** Rejects with every violation seen so far (and forgets them), once the frame checks already started ended. */
  assertClean(): Promise<void>;
}

let specCache: LoadedSpec | undefined;
const specOnce = () => {
  specCache ??= loadSpec();
  return specCache;
};

interface Route {
  op: OperationSpec;
  pattern: RegExp;
  staticSegments: number;
}

function routesOf(spec: LoadedSpec): Route[] {
  return spec.operations
    .map((op) => ({
      op,
      pattern: new RegExp(`^${op.path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
      staticSegments: op.path.split("/").filter((s) => s && !s.startsWith("{")).length,
    }))
    .sort((a, b) => b.staticSegments - a.staticSegments);
}

/** The documented operation this request reached, if any (unknown paths and methods are not operations). */
export function operationFor(routes: Route[], method: string, url: string): OperationSpec | undefined {
  const path = url.split("?")[0] ?? "";
  const m = method === "HEAD" ? "GET" : method;
  return routes.find((r) => r.op.method === m && r.pattern.test(path))?.op;
}

function mediaType(value: string | number | string[] | undefined): string {
  return String(value ?? "")
    .split(";")[0]!
    .trim()
    .toLowerCase();
}

/** Headers the spec marks `required: true` on this response. */
function requiredHeaders(spec: LoadedSpec, op: OperationSpec, status: number): string[] {
  type Responses = Record<string, { headers?: Record<string, { required?: boolean }> }>;
  const paths = spec.document.paths as Record<string, Record<string, { responses?: Responses }>>;
  const response = paths[op.path]?.[op.method.toLowerCase()]?.responses?.[String(status)];
  const headers = response?.headers ?? {};
  return Object.entries(headers)
    .filter(([, h]) => h.required)
    .map(([name]) => name);
}

/** What the response checks need to know about one HTTP exchange. */
export interface Exchange {
  method: string;
  url: string;
  status: number;
  headers: Record<string, string | number | string[] | undefined>;
  /** The body bytes, or undefined when it was too large (or never finished: a stream). */
  body: Buffer | undefined;
}

/** The contract problems of one HTTP exchange (empty when it conforms). */
export function checkExchange(spec: LoadedSpec, routes: Route[], x: Exchange): string[] {
  const op = operationFor(routes, x.method, x.url);
  if (!op) return [];
  const declared = op.responses.get(x.status);
  if (!declared) {
    const documented = [...op.responses.keys()].join(", ");
    return [`${op.operationId} answered ${x.status}, documented: ${documented}`];
  }
  const problems: string[] = [];
  const actualType = mediaType(x.headers["content-type"]);
  const hasBody = x.body === undefined || x.body.length > 0;
  if (declared.contentType === "") {
    if (hasBody && x.method !== "HEAD") problems.push(`${op.operationId} ${x.status} documents no body, one was sent`);
  } else if (actualType !== declared.contentType.toLowerCase()) {
    problems.push(`${op.operationId} ${x.status} content type '${actualType}', documented '${declared.contentType}'`);
  }
  for (const name of requiredHeaders(spec, op, x.status)) {
    if (x.headers[name.toLowerCase()] === undefined)
      problems.push(`${op.operationId} ${x.status} lacks the documented header ${name}`);
  }
  // JSON bodies only (application/json, application/problem+json): JSON Lines (x-ndjson) is not one document.
  const isJson = actualType === "application/json" || actualType.endsWith("+json");
  if (declared.validate && x.body && x.body.length > 0 && x.method !== "HEAD" && isJson) {
    let value: unknown;
    try {
      value = JSON.parse(x.body.toString("utf8"));
    } catch {
      return [...problems, `${op.operationId} ${x.status} body is not JSON`];
    }
    if (!declared.validate(value)) {
      const errors = (declared.validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || "/"} ${e.message}`);
      problems.push(`${op.operationId} ${x.status} body does not match the schema: ${errors.join("; ")}`);
    }
  }
  return problems;
}

/** Records what a response writes, then checks it once it finished (or its connection closed: streams). */
function tapResponse(req: IncomingMessage, res: ServerResponse, done: (x: Exchange) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  const keep = (chunk: unknown, encoding?: unknown) => {
    if (chunk === undefined || chunk === null || typeof chunk === "function" || overflow) return;
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk as string, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
    size += buf.length;
    if (size > MAX_CAPTURED_BYTES) overflow = true;
    else chunks.push(buf);
  };
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.write = ((...args: unknown[]) => {
    keep(args[0], args[1]);
    return write(...args);
  }) as ServerResponse["write"];
  res.end = ((...args: unknown[]) => {
    keep(args[0], args[1]);
    return end(...args);
  }) as ServerResponse["end"];
  // Headers handed to writeHead() directly are not kept by getHeaders(): record them too.
  const written: Record<string, string | number | string[] | undefined> = {};
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  res.writeHead = ((...args: unknown[]) => {
    const headers = args.find((a, i) => i > 0 && typeof a === "object" && a !== null);
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2) written[String(headers[i]).toLowerCase()] = headers[i + 1];
    } else if (headers) {
      for (const [k, v] of Object.entries(headers)) written[k.toLowerCase()] = v as string;
    }
    return writeHead(...args);
  }) as ServerResponse["writeHead"];
  let reported = false;
  const report = (finished: boolean) => {
    if (reported || !res.headersSent) return;
    reported = true;
    done({
      method: req.method ?? "GET",
      url: req.url ?? "/",
      status: res.statusCode,
      headers: { ...written, ...res.getHeaders() },
      body: finished && !overflow ? Buffer.concat(chunks) : undefined,
    });
  };
  res.once("finish", () => report(true));
  res.once("close", () => report(false));
}

/** Parses what the server writes on an upgraded socket: the HTTP answer, then (after a 101) WebSocket frames. */
function tapUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  onRefusal: (status: number) => void,
  onFrame: (text: string) => void,
): void {
  let head = Buffer.alloc(0);
  let receiver: FrameParser | undefined;
  let refused = false;
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  const feed = (chunk: unknown, encoding?: unknown) => {
    if (refused || chunk === undefined || chunk === null || typeof chunk === "function") return;
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk as string, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
    if (receiver) {
      receiver.write(buf);
      return;
    }
    head = Buffer.concat([head, buf]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.subarray(0, end).toString("latin1"))?.[1] ?? 0);
    if (status !== 101) {
      refused = true;
      onRefusal(status);
      return;
    }
    // Frames Gatehouse sends are unmasked, like any server's: parse them as a client would.
    receiver = new Receiver({ isServer: false, maxPayload: 0 });
    receiver.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) onFrame(data.toString("utf8"));
    });
    receiver.on("error", () => undefined);
    const rest = head.subarray(end + 4);
    if (rest.length) receiver.write(rest);
  };
  socket.write = ((...args: unknown[]) => {
    feed(args[0], args[1]);
    return write(...args);
  }) as Duplex["write"];
  const end = socket.end.bind(socket) as (...args: unknown[]) => Duplex;
  socket.end = ((...args: unknown[]) => {
    feed(args[0], args[1]);
    return end(...args);
  }) as Duplex["end"];
  void req;
}

/**
 * Starts checking every response of `server` against the contract. Call it right after the server was created
 * (before traffic); `assertClean()` fails with what was found.
 */
export function tapConformance(server: Server): ConformanceTap {
  const spec = specOnce();
  const routes = routesOf(spec);
  const violations: Violation[] = [];
  const validators: Promise<MessageValidators> = loadMessageValidators();
  const pendingFrames: Promise<void>[] = [];

  server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    tapResponse(req, res, (x) => {
      for (const problem of checkExchange(spec, routes, x)) violations.push({ where: `${x.method} ${x.url}`, problem });
    });
  });
  // Not an 'upgrade' listener of its own: the sessions face answers 404 only when it is the only listener.
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = ((event: string | symbol, ...args: unknown[]) => {
    // A request offering another upgrade (h2c), or to another path, is served as plain HTTP: its answer is a request's.
    if (event === "upgrade" && sessionUpgradeSegment(args[0] as IncomingMessage) !== undefined)
      watchUpgrade(args[0] as IncomingMessage, args[1] as Duplex);
    return emit(event, ...args);
  }) as Server["emit"];
  const watchUpgrade = (req: IncomingMessage, socket: Duplex) => {
    const where = `WS ${req.url ?? ""}`;
    tapUpgrade(
      req,
      socket,
      (status) => {
        if (!DOCUMENTED_UPGRADE_STATUSES.has(status))
          violations.push({ where, problem: `upgrade refused with undocumented status ${status}` });
      },
      (text) => {
        pendingFrames.push(
          validators.then((v) => {
            let frame: unknown;
            try {
              frame = JSON.parse(text);
            } catch {
              violations.push({ where, problem: `frame is not JSON: ${text.slice(0, 200)}` });
              return;
            }
            const result = v.validate("ide_out", frame);
            if (!result.ok) {
              const errors = result.errors.map((e) => `${e.pointer} ${e.message}`).join("; ");
              violations.push({ where, problem: `frame ${text.slice(0, 200)} breaks its schema: ${errors}` });
            }
          }),
        );
      },
    );
  };

  return {
    violations,
    async assertClean() {
      await Promise.all(pendingFrames.splice(0));
      if (!violations.length) return;
      const found = violations.splice(0).map((v) => `  ${v.where}: ${v.problem}`);
      throw new Error(`Traffic that breaks the contract (${found.length}):\n${[...new Set(found)].join("\n")}`);
    },
  };
}
