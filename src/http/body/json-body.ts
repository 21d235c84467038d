// The REST JSON body reader: what koa-body did for us (co-body + raw-body + inflation + @hapi/bourne + type-is), on
// node streams and JSON.parse, without their per-request option cloning, iconv decoding and media-type parsing
// (issue #17: they were ~8% of a small request's CPU). Same answers:
// - a Content-Length over the limit → 413 before anything is read; a body that streams past the limit → 413 as
//   soon as it does, with no more than the limit held; fewer or more bytes than Content-Length → 400;
// - gzip / deflate / br are decompressed, the limit counting the DECOMPRESSED bytes (a zip bomb stops at the
//   limit); any other Content-Encoding → 415;
// - strict JSON (co-body's `strict`): only an object or an array at the top, an empty body is `{}`, a leading
//   UTF-8 BOM is dropped (iconv did), and a `__proto__` key anywhere → 400 (bourne's check);
// - a member name repeated in one object → 400 naming it (JSON.parse would keep the last; ./json-duplicates.ts);
// - an integer beyond ±(2^53−1) → 400 VALIDATION_FAILED naming it (JSON.parse would round it; ./json-integers.ts);
// - UTF-8 only: a body declaring another charset → 415 (co-body decoded every body as UTF-8 whatever it said), and
//   bytes that are not UTF-8 → 400 (decoding them made U+FFFD of them, signed into the audit as if sent).
// A body whose type is not JSON is left unread: the route answers 415 before anything else.
import { isUtf8 } from "node:buffer";
import type { IncomingMessage } from "node:http";
import type { Transform } from "node:stream";
import { createBrotliDecompress, createUnzip } from "node:zlib";
import type { Context } from "koa";
import { HttpProblem, problem } from "../boundary";
import { closeAfterAnswer } from "./close-after-answer";
import { duplicateMemberName, shownName } from "./json-duplicates";
import { UNSAFE_INTEGER_MESSAGE, unsafeIntegerPointer } from "./json-integers";
import { shapeProblem } from "./json-shape";

export interface JsonBodyLimits {
  /** Largest body accepted, in bytes after decompression. */
  limitBytes: number;
}

/** The media types read as JSON: the ones the router accepts (it answers 415 to any other). */
const JSON_TYPES = ["application/json", "application/*+json"];
/** Content-Type values most clients send, recognised without parsing the header. */
const PLAIN_JSON_TYPES = new Set(["application/json", "application/json; charset=utf-8"]);
const UTF8_CHARSETS = new Set(["", "utf-8", "utf8", "us-ascii"]);

/**
 * Reads the JSON body of the request into `ctx.request.body`, as koa-body did. A request without a body or with a
 * type that is not JSON is left alone (body undefined). Throws HttpProblems: 413, 415, 400 INVALID_JSON.
 */
export async function readJsonBody(ctx: Context, { limitBytes }: JsonBodyLimits): Promise<void> {
  const req = ctx.req;
  if (!declaresBody(req) || !isUtf8Json(ctx)) return;
  if (!req.readable) throw new Error("The request body was already read");
  const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  const decompressor = decompressorFor(encoding, req);
  const declared = decompressor ? undefined : declaredLength(req);
  if (declared !== undefined && declared > limitBytes) throw tooLarge();
  const bytes = await collect(req, decompressor, limitBytes, declared, encoding).catch((err: unknown) => {
    // Stopped before the body's end (413 mid-stream, a bad gzip…): the rest must not be read as the next request.
    if (!req.readableEnded) closeAfterAnswer(ctx);
    throw err;
  });
  (ctx.request as { body?: unknown }).body = parseStrictJson(utf8Text(bytes));
}

/** type-is's rule, which koa-body went by: a Transfer-Encoding, or a numeric Content-Length (0 included). */
function declaresBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && !Number.isNaN(Number(length)));
}

/**
 * The request's Content-Type is one of `types` (default: a JSON media type, `application/json` or
 * `application/*+json`), as `ctx.is(types)` says; the two usual spellings of `application/json` are recognised
 * without parsing the media type (about 1 µs per request).
 */
export function hasJsonMediaType(ctx: Context, types: readonly string[] = JSON_TYPES): boolean {
  const type = ctx.req.headers["content-type"];
  return (type !== undefined && PLAIN_JSON_TYPES.has(type)) || Boolean(ctx.is(types as string[]));
}

/** A JSON media type (false: leave it to the route's 415) in UTF-8 (another charset: 415 here). */
function isUtf8Json(ctx: Context): boolean {
  const type = ctx.req.headers["content-type"];
  if (type !== undefined && PLAIN_JSON_TYPES.has(type)) return true;
  if (!hasJsonMediaType(ctx)) return false;
  const charset = ctx.request.charset.toLowerCase();
  if (!UTF8_CHARSETS.has(charset)) {
    throw problem("UNSUPPORTED_MEDIA_TYPE", `Unsupported charset "${charset}": request bodies must be UTF-8 JSON`);
  }
  return true;
}

/** The body's Content-Length, when it declares one. */
function declaredLength(req: IncomingMessage): number | undefined {
  const length = req.headers["content-length"];
  return length ? Number(length) : undefined;
}

/** The decompressor a Content-Encoding names (none for identity), as `inflation` chose it; any other → 415. */
function decompressorFor(encoding: string, req: IncomingMessage): Transform | undefined {
  switch (encoding) {
    case "identity":
      return undefined;
    case "gzip":
    case "deflate":
      // createUnzip recognises both the gzip and the zlib header, as inflation's did.
      return createUnzip();
    case "br":
      return createBrotliDecompress();
    default:
      throw problem("UNSUPPORTED_MEDIA_TYPE", `Unsupported Content-Encoding: ${req.headers["content-encoding"]}`);
  }
}

/**
 * The body's bytes (through the decompressor, if any), never holding more than `limit`. The listeners are anonymous
 * arrows into a BodyBytes: a named closure per listener would also pay esbuild's keepNames `__name` call under tsx.
 */
function collect(
  req: IncomingMessage,
  decompressor: Transform | undefined,
  limit: number,
  declared: number | undefined,
  encoding: string,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const bytes = new BodyBytes(req, decompressor, limit, declared, resolve, reject);
    const source = decompressor ? req.pipe(decompressor) : req;
    source.on("data", (chunk: Buffer) => bytes.add(chunk));
    source.on("end", () => bytes.end());
    // The client went away mid-body (the request errors, or closes before its end): nobody is left to answer.
    req.on("error", () => bytes.fail(aborted()));
    req.on("close", () => {
      if (!req.readableEnded) bytes.fail(aborted());
    });
    decompressor?.on("error", () => bytes.fail(problem("INVALID_JSON", `Request body is not valid ${encoding} data`)));
  });
}

/**
 * The bytes of one body as they arrive. Settles once; its listeners stay attached to the spent request and do
 * nothing after that. On a failure the request is unpiped and paused (raw-body's halt): nothing more is read.
 */
class BodyBytes {
  private chunks: Buffer[] = [];
  private received = 0;
  private settled = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly decompressor: Transform | undefined,
    private readonly limit: number,
    private readonly declared: number | undefined,
    private readonly resolve: (bytes: Buffer) => void,
    private readonly reject: (error: HttpProblem) => void,
  ) {}

  add(chunk: Buffer): void {
    if (this.settled) return;
    this.received += chunk.length;
    if (this.received > this.limit) return this.fail(tooLarge());
    this.chunks.push(chunk);
  }

  end(): void {
    if (this.settled) return;
    if (this.declared !== undefined && this.received !== this.declared) {
      return this.fail(new HttpProblem(400, "request size did not match content length"));
    }
    this.settled = true;
    const { chunks } = this;
    this.chunks = [];
    // One chunk (the usual small body) is the body itself: no copy.
    this.resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.received));
  }

  fail(error: HttpProblem): void {
    if (this.settled) return;
    this.settled = true;
    this.chunks = [];
    if (this.decompressor) {
      this.req.unpipe(this.decompressor);
      // A decompressor error still to come (it was mid-chunk) is nobody's: swallowed, never an uncaught throw.
      this.decompressor.on("error", () => {});
      this.decompressor.destroy();
    }
    this.req.pause();
    this.reject(error);
  }
}

/**
 * UTF-8 text without a leading byte order mark (iconv-lite, under raw-body, dropped it). Bytes that are not UTF-8
 * are refused: decoded, each became U+FFFD, so `Evil\xff Corp` reached the policy and the signed audit as
 * `Evil\ufffd Corp`, a name the agent never sent (as a lone surrogate escape is refused, ./json-shape.ts).
 */
function utf8Text(bytes: Buffer): string {
  if (!isUtf8(bytes)) throw problem("INVALID_JSON", "Request body is not valid UTF-8");
  const text = bytes.toString("utf8");
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

// co-body's strict mode: after RFC 8259 whitespace, the body must open an object or an array.
const OBJECT_OR_ARRAY_START = /^[ \t\n\r]*[[{]/;

/**
 * Parses as co-body's strict JSON did: `{}` for an empty body, 400 INVALID_JSON for anything refused. Also the
 * stdio MCP bridge's reader of its lines (../../faces/mcp/stdio-lines.ts), so both doors refuse the same text.
 */
export function parseStrictJson(text: string): unknown {
  if (text === "") return {};
  if (!OBJECT_OR_ARRAY_START.test(text)) throw problem("INVALID_JSON", "Request body must be a JSON object");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw problem("INVALID_JSON", "Request body is not valid JSON");
  }
  if (holdsProtoKey(text, value)) {
    throw problem("INVALID_JSON", "Request body must not contain __proto__ or constructor.prototype");
  }
  const repeated = duplicateMemberName(text);
  if (repeated !== undefined)
    throw problem("INVALID_JSON", `Request body repeats the member name ${shownName(repeated)}`);
  const unsafe = unsafeIntegerPointer(text);
  if (unsafe !== undefined) throw shapeProblem({ pointer: unsafe, message: UNSAFE_INTEGER_MESSAGE });
  return value;
}

// @hapi/bourne 3.0.0 (BSD-3-Clause, hapijs/bourne lib/index.js): a `"__proto__":` key, any letter of it possibly
// \u-escaped. JSON.parse makes such a key an own property, which a later merge or spread would turn into the
// object's prototype (prototype poisoning).
const PROTO_KEY =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;

/** A `"name":` member key of JSON text, any letter of it possibly \u-escaped (as bourne's PROTO_KEY spells it). */
function memberKey(name: string): RegExp {
  const letter = (c: string) => {
    const hex = c.charCodeAt(0).toString(16).padStart(4, "0");
    return `(?:${c}|\\\\u${hex.replace(/[a-f]/g, (h) => `[${h}${h.toUpperCase()}]`)})`;
  };
  return new RegExp(`"${[...name].map(letter).join("")}"\\s*:`);
}

// secure-json-parse's second rule (fastify/secure-json-parse, BSD-3-Clause): a `constructor` member holding a
// `prototype` member. `{"constructor":{"prototype":{"x":1}}}` merged into an object reaches Object.prototype through
// `target.constructor.prototype` as `__proto__` reaches it directly.
const CONSTRUCTOR_KEY = memberKey("constructor");

/** Cheap filter before the patterns: a match needs the literal key or at least one \u escape. */
function mayHaveProtoKey(text: string): boolean {
  const escapes = text.includes("\\u");
  return (
    ((text.includes("__proto__") || escapes) && PROTO_KEY.test(text)) ||
    ((text.includes("constructor") || escapes) && CONSTRUCTOR_KEY.test(text))
  );
}

/**
 * bourne's and secure-json-parse's rule: whether any object of `value` (JSON.parse of `text`) has an own `__proto__`
 * key, or an own `constructor` member that is an object with an own `prototype` member. The text is looked at first,
 * so most values are never walked; the walk is iterative: no stack to overflow.
 */
export function holdsProtoKey(text: string, value: unknown): boolean {
  if (!mayHaveProtoKey(text) || value === null || typeof value !== "object") return false;
  const pending = [value];
  while (pending.length > 0) {
    const node = pending.pop() as Record<string, unknown>;
    if (Object.hasOwn(node, "__proto__")) return true;
    const made = Object.hasOwn(node, "constructor") ? node.constructor : undefined;
    if (made !== null && typeof made === "object" && Object.hasOwn(made, "prototype")) return true;
    for (const member of Object.values(node)) if (member !== null && typeof member === "object") pending.push(member);
  }
  return false;
}

function aborted(): HttpProblem {
  return new HttpProblem(400, "request aborted");
}

function tooLarge(): HttpProblem {
  return problem("PAYLOAD_TOO_LARGE", "Request body is larger than the configured limit");
}
