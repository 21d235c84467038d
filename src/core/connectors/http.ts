// `http` and `webhook` connectors on node:http / node:https.
//
// Not on global fetch: fetch resolves the host itself, so the SSRF guard would have to check a separate
// resolution and could be fooled by DNS rebinding. Here the request's own `lookup` is the guard
// (network-guard.ts `guardedLookup`): the connection goes to exactly the addresses that were checked.
//
// Tool configuration (from the manifest):
//   url            template, `{param}` placeholders URL-encoded (url-template.ts)
//   method         http: GET by default; webhook: always POST
//   headers        { "X-Static": "value", "Authorization": { "secret_ref": "GATEHOUSE_SECRET_CRM_TOKEN", "prefix": "Bearer " } }
//                  secrets are looked up by name at call time and never copied into results or errors; only
//                  GATEHOUSE_SECRET_* names may be referenced (types.ts)
//   allowed_hosts  deny by default: a tool without it reaches nothing
//   allow_private  true to let this tool reach private/loopback addresses (local services, tests)
//   timeout_ms     default 10 s, at most 60 s
//   max_response_bytes  default and ceiling 1 MiB
// Params not used by the URL go as a JSON body (POST/PUT/PATCH) or as the query string (GET/DELETE/HEAD);
// a webhook POSTs all params as JSON. A param an upstream could read as a query parameter the url fixes (`Kind`,
// ` kind`, `ｋｉｎｄ` beside `?kind=x`; `accountId`, `account-id` beside `?account_id=x`) is refused, INVALID_PARAMS,
// never sent beside it; so is, in a query string, a name with `[`, `]` or `.` (another param to form parsers and
// model binders) or `%` (another name to a server that decodes twice), and anywhere, at any depth of a param's value
// too, a key an upstream reads as the request's method (`_method`, `X-HTTP-Method-Override`: method-override.ts).
// Redirects are never followed (a 3xx is a failure), so an allowed host cannot bounce the call to a forbidden one.
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { MAX_RESULT_DEPTH, nestedDeeperThan } from "../audit/bound";
import { REDACTED } from "../audit/redact";
import { foldKey } from "../policy/fold-key";
import { decodedForms } from "./decoded-forms";
import { methodOverrideProblem } from "./method-override";
import { bareHostname, checkUrl, DestinationRefused, guardedLookup, type Lookup, systemLookup } from "./network-guard";
import {
  type Connector,
  type ConnectorCall,
  type ConnectorResult,
  failure,
  isAllowedSecretRef,
  resolveSecret,
  SECRET_REF_PREFIX,
  type SecretSource,
} from "./types";
import { expandUrlTemplate, UrlTemplateError } from "./url-template";

export const MAX_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 60_000;
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);
/** Framing and routing headers node:http would send as given (fetch used to refuse them): only we set these. */
export const TRANSPORT_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
]);

type HeaderValue = string | { secret_ref: string; prefix?: string };

export interface HttpConnectorOptions {
  lookup?: Lookup | undefined;
  /** Overrides which resolved addresses the guard refuses (tests only). */
  isBlockedAddress?: ((address: string) => boolean) | undefined;
  /** Where `secret_ref`s are looked up when a call brings no source of its own (the registry's). */
  secrets?: SecretSource | undefined;
}

export function createHttpConnector(kind: "http" | "webhook", options: HttpConnectorOptions = {}): Connector {
  const settled = { ...options, lookup: options.lookup ?? systemLookup };
  return (call) => callHttp(kind, call, settled);
}

async function callHttp(
  kind: "http" | "webhook",
  call: ConnectorCall,
  options: HttpConnectorOptions & { lookup: Lookup },
): Promise<ConnectorResult> {
  const { config, params } = call;
  if (typeof config.url !== "string") return failure("CONNECTOR_MISCONFIGURED", `Tool ${call.tool} has no url`);
  const method = kind === "webhook" ? "POST" : String(config.method ?? "GET").toUpperCase();
  if (!METHODS.has(method)) return failure("CONNECTOR_MISCONFIGURED", `Method ${method} is not supported`);

  let expanded: { url: string; used: Set<string> };
  let url: URL;
  try {
    expanded = expandUrlTemplate(config.url, params);
    url = new URL(expanded.url);
  } catch (err) {
    if (err instanceof UrlTemplateError) return failure("INVALID_PARAMS", err.message);
    return failure("CONNECTOR_MISCONFIGURED", `Tool ${call.tool} has an invalid url`);
  }

  const allowPrivate = config.allow_private === true;
  const verdict = checkUrl(url, {
    allowedHosts: Array.isArray(config.allowed_hosts) ? (config.allowed_hosts as string[]) : [],
    allowPrivate,
  });
  if (!verdict.ok) return failure(verdict.code, verdict.message);

  const headers: Record<string, string> = { accept: "application/json" };
  const secretValues: string[] = [];
  for (const [name, value] of Object.entries((config.headers ?? {}) as Record<string, HeaderValue>)) {
    if (TRANSPORT_HEADERS.has(name.toLowerCase())) {
      return failure("CONNECTOR_MISCONFIGURED", `Header ${name} is set by the gateway, not by tool configuration`);
    }
    if (typeof value === "string") {
      if (!isHeaderValue(value)) {
        return failure("CONNECTOR_MISCONFIGURED", `Header ${name} holds a character a request header cannot carry`);
      }
      headers[name.toLowerCase()] = value;
      continue;
    }
    if (!isAllowedSecretRef(value.secret_ref)) {
      return failure(
        "SECRET_NOT_ALLOWED",
        `Secret ${value.secret_ref} for header ${name} is not a ${SECRET_REF_PREFIX}* variable`,
      );
    }
    const secret = resolveSecret(call.secrets ?? options.secrets, value.secret_ref);
    if (!secret) return failure("SECRET_MISSING", `Secret ${value.secret_ref} for header ${name} is not configured`);
    const header = `${value.prefix ?? ""}${secret}`;
    if (!isHeaderValue(header)) {
      // Named, never shown: often a newline left at the end of the secret's file.
      return failure(
        "CONNECTOR_MISCONFIGURED",
        `Secret ${value.secret_ref} (or its prefix) for header ${name} holds a character a request header cannot carry`,
      );
    }
    secretValues.push(secret);
    headers[name.toLowerCase()] = header;
  }

  const unused = Object.fromEntries(Object.entries(params).filter(([name]) => !expanded.used.has(name)));
  const inBody = kind === "webhook" || BODY_METHODS.has(method);
  // A webhook's body carries every param, a placeholder's too.
  const refused =
    methodOverrideProblem(kind === "webhook" ? params : unused) ??
    (inBody ? fixedQueryProblem(Object.keys(unused), url) : queryNameProblem(Object.keys(unused), url));
  if (refused) return failure("INVALID_PARAMS", refused);
  let body: string | undefined;
  if (kind === "webhook") {
    body = JSON.stringify(params);
  } else if (inBody) {
    body = JSON.stringify(unused);
  } else {
    for (const [name, value] of Object.entries(unused)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        url.searchParams.append(name, typeof item === "object" && item !== null ? JSON.stringify(item) : String(item));
      }
    }
  }
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(body));
  }

  const timeoutMs = Math.min(positiveNumber(config.timeout_ms) ?? DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS);
  const maxBytes = Math.min(positiveNumber(config.max_response_bytes) ?? MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([call.signal, timeout]);
  const scrub = (value: unknown) => scrubSecrets(value, secretValues);

  try {
    const response = await send(url, {
      method,
      headers,
      body,
      signal,
      lookup: guardedLookup({ lookup: options.lookup, allowPrivate, isBlocked: options.isBlockedAddress }),
    });
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400) {
      response.destroy();
      return failure(
        "REDIRECT_NOT_FOLLOWED",
        `Upstream answered HTTP ${status} (redirect); redirects are not followed`,
      );
    }
    const read = await readCapped(response, maxBytes);
    if (!read.ok) return failure("RESPONSE_TOO_LARGE", `Upstream response exceeds ${maxBytes} bytes`);
    const data = scrub(parseBody(read.text, headerValue(response, "content-type")));
    if (status < 200 || status >= 300) {
      return failure("UPSTREAM_HTTP_ERROR", `Upstream answered HTTP ${status}`, { status, body: data });
    }
    return { success: true, data };
  } catch (err) {
    if (timeout.aborted) return failure("TIMEOUT", `No answer from upstream within ${timeoutMs} ms`);
    if (call.signal.aborted)
      return failure("CANCELLED", "The call was cancelled; the request may have reached the upstream");
    if (err instanceof DestinationRefused) return failure(err.code, err.message);
    const code = (err as NodeJS.ErrnoException).code;
    const why = scrub(`${url.host}: ${code ?? (err as Error).message}`) as string;
    // Only an error that came before any connection proves the request never left (see NOT_SENT_FAILURES).
    if (code !== undefined && BEFORE_CONNECTION.has(code))
      return failure("UPSTREAM_UNREACHABLE", `Cannot reach ${why}`);
    return failure("UPSTREAM_CONNECTION_LOST", `The connection to ${why} failed; the request may have reached it`);
  }
}

/**
 * Whether node:http sends this header value. It refuses CR, LF, NUL and the like by throwing from `request()`,
 * which used to read as a connection lost after sending (UPSTREAM_CONNECTION_LOST, budget kept) although nothing left.
 */
export function isHeaderValue(value: string): boolean {
  return !/[^\t\x20-\x7e\x80-\xff]/.test(value);
}

/**
 * A param named like a query parameter the url already has (`?account=main`, the tool's): sent beside it, in the
 * query or in the body, a server that reads the last value (or merges body and query: Rails' params, PHP's
 * $_REQUEST) would let the agent choose what the operator fixed. "Named like" is compared as upstreams read
 * names, not byte for byte (foldParamName): `Kind`, ` kind` and `kind\u0000` are `kind` to ASP.NET or PHP, and
 * `accountId` or `account-id` is `account_id` to Rails with olive_branch or a Pydantic alias.
 */
function fixedQueryProblem(names: string[], url: URL): string | undefined {
  const fixed = new Map<string, string>();
  for (const name of url.searchParams.keys()) for (const form of readAs(name)) fixed.set(form, name);
  for (const name of names) {
    const taken = readAs(name)
      .map((form) => fixed.get(form))
      .find((found) => found !== undefined);
    if (taken === undefined) continue;
    const like = taken === name ? "" : " (an upstream may read the name as that one)";
    const fixedName = JSON.stringify(taken);
    return `param ${JSON.stringify(name)} cannot be sent: the tool's url sets the query parameter ${fixedName}${like}`;
  }
  return undefined;
}

/** What an upstream may read this name as: folded as it is and after each percent-decoding (chains decoding again). */
function readAs(name: string): string[] {
  return decodedForms(name).map(foldParamName);
}

/**
 * A param name reduced to what some upstream framework could read it as, so that two names read alike fold alike.
 * It errs towards folding too much: a legitimate name refused is an error the agent sees, a look-alike let through
 * overrides a value the operator fixed. Covers: C strings and PHP ending a name at NUL; PHP reading `kind[x]` as
 * `kind`; then the policy's own folding (../policy/fold-key.ts): width and compatibility forms (NFKC: `ｋｉｎｄ`), case
 * (ASP.NET's case-insensitive query, `ı`/`ſ`/Kelvin sign via upper case), and every character but letters and digits
 * dropped: control and invisible characters, whitespace, PHP's `.` and space, and the separators `_` and `-`
 * anywhere. Upstreams map `accountId`, `AccountID` and `account-id` to `account_id` (Rails with olive_branch,
 * Pydantic aliases, ASP.NET binders) and merge the body over the query, so each of them beside `?account_id=main`
 * would choose the account; the policy reads these spellings as one name too.
 */
export function foldParamName(name: string): string {
  const nul = name.indexOf("\u0000");
  let folded = (nul === -1 ? name : name.slice(0, nul)).normalize("NFKC");
  const open = folded.indexOf("[");
  if (open > 0 && folded.indexOf("]", open) !== -1) folded = folded.slice(0, open);
  return foldKey(folded);
}

/** Why one of these param names cannot go into the url's query string; undefined when all can. */
function queryNameProblem(names: string[], url: URL): string | undefined {
  const fixed = fixedQueryProblem(names, url);
  if (fixed) return fixed;
  for (const name of names) {
    // Form parsers (qs, PHP, Rack) read `to[1]=…` as the param `to`: a value the policy did not judge under that
    // name (`to=ann@acme.com&to[1]=boss@evil.com` is two recipients to them, one to the policy). Model binders
    // (ASP.NET Core, Spring, qs with allowDots) read `price.value=5000` as `price: {value: 5000}`, money the policy,
    // reading a flat key `price.value`, never judged as such. Checked percent-decoded too (chains decoding again).
    if (decodedForms(name).some((form) => /[[\].]/.test(form)))
      return `param "${name}" cannot be sent in a query string: a name with [, ] or . names another param`;
    // `am%6Fu%6Et` goes as `am%256Fu%256Et`, which a chain that decodes twice reads as `amount`: money the policy,
    // reading the key `am%6Fu%6Et`, never judged. Any `%`, not only one that decodes: lenient decoders (PHP's
    // urldecode, Python's unquote) still decode the valid escapes of `am%6Fu%6Et%`, which decodeURIComponent refuses.
    if (name.includes("%"))
      return `param "${name}" cannot be sent in a query string: a name with % reads as another name to a server that decodes twice`;
  }
  return undefined;
}

/** Socket errors raised while connecting, before a byte of the request was written. */
const BEFORE_CONNECTION = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EADDRNOTAVAIL",
]);

export interface SendOptions {
  method: string;
  headers: OutgoingHttpHeaders;
  body: string | undefined;
  signal: AbortSignal;
  lookup: LookupFunction;
}

/**
 * One request on a fresh connection (`agent: false`: a pooled socket could carry a call to an address that
 * this call's lookup never checked). Resolves with the response head; node:http never follows redirects.
 * Aborting `signal` destroys the request and, once it has arrived, the response.
 */
export function send(url: URL, options: SendOptions): Promise<IncomingMessage> {
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({
      protocol: url.protocol,
      hostname: bareHostname(url),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: options.method,
      headers: options.headers,
      lookup: options.lookup,
      agent: false,
      signal: options.signal,
    });
    // `on`, not `once`: a socket error after the response arrived must not become an uncaught exception
    // (the promise is settled by then; the response stream reports it to its reader).
    req.on("error", reject);
    req.once("response", (response) => {
      // Errors reach the reader through iteration; this keeps one that races the reader from crashing the process.
      response.on("error", () => {});
      const abort = () => response.destroy(options.signal.reason as Error);
      options.signal.addEventListener("abort", abort, { once: true });
      response.once("close", () => options.signal.removeEventListener("abort", abort));
      resolve(response);
    });
    req.end(options.body);
  });
}

function headerValue(response: IncomingMessage, name: string): string | null {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(", ") : (value ?? null);
}

async function readCapped(
  response: IncomingMessage,
  maxBytes: number,
): Promise<{ ok: true; text: string } | { ok: false }> {
  const declared = Number(response.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.destroy();
    return { ok: false };
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      response.destroy();
      return { ok: false };
    }
    chunks.push(chunk);
  }
  return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
}

function parseBody(text: string, contentType: string | null): unknown {
  if (text === "") return null;
  if (contentType && /\bjson\b/i.test(contentType)) {
    try {
      const parsed: unknown = JSON.parse(text);
      // JSON nested deeper than a result may be is answered as the text it came as (bounded in the audit like any).
      return nestedDeeperThan(parsed, MAX_RESULT_DEPTH) ? text : parsed;
    } catch {
      return text;
    }
  }
  return text;
}

/** Defence in depth: an upstream that echoes our Authorization header must not leak it into results/logs. */
function scrubSecrets(value: unknown, secrets: readonly string[]): unknown {
  if (secrets.length === 0) return value;
  if (typeof value === "string") return secrets.reduce((text, secret) => text.split(secret).join(REDACTED), value);
  if (Array.isArray(value)) return value.map((item) => scrubSecrets(item, secrets));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [scrubSecrets(k, secrets) as string, scrubSecrets(v, secrets)]),
    );
  }
  return value;
}

function positiveNumber(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : undefined;
}
