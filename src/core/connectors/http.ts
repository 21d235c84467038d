// `http` and `webhook` connectors on Node's global fetch (undici).
//
// Tool configuration (from the manifest):
//   url            template, `{param}` placeholders URL-encoded (url-template.ts)
//   method         http: GET by default; webhook: always POST
//   headers        { "X-Static": "value", "Authorization": { "secret_ref": "CRM_TOKEN", "prefix": "Bearer " } }
//                  secrets are looked up by name at call time and never copied into results or errors
//   allowed_hosts  deny by default: a tool without it reaches nothing
//   allow_private  true to let this tool reach private/loopback addresses (local services, tests)
//   timeout_ms     default 10 s, at most 60 s
//   max_response_bytes  default and ceiling 1 MiB
// Params not used by the URL go as a JSON body (POST/PUT/PATCH) or as the query string (GET/DELETE/HEAD);
// a webhook POSTs all params as JSON. Redirects are never followed (a 3xx is a failure), so an allowed host
// cannot bounce the call to a forbidden one.
import { checkDestination, systemLookup, type Lookup } from "./network-guard";
import { failure, resolveSecret, type Connector, type ConnectorCall, type ConnectorResult } from "./types";
import { expandUrlTemplate, UrlTemplateError } from "./url-template";
import { REDACTED } from "../audit/redact";

export const MAX_RESPONSE_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 60_000;
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

type HeaderValue = string | { secret_ref: string; prefix?: string };

export interface HttpConnectorOptions {
  lookup?: Lookup;
}

export function createHttpConnector(kind: "http" | "webhook", options: HttpConnectorOptions = {}): Connector {
  const lookup = options.lookup ?? systemLookup;
  return (call) => callHttp(kind, call, lookup);
}

async function callHttp(kind: "http" | "webhook", call: ConnectorCall, lookup: Lookup): Promise<ConnectorResult> {
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

  const verdict = await checkDestination(url, {
    allowedHosts: Array.isArray(config.allowed_hosts) ? (config.allowed_hosts as string[]) : [],
    allowPrivate: config.allow_private === true,
    lookup,
  });
  if (!verdict.ok) return failure(verdict.code, verdict.message);

  const headers = new Headers({ accept: "application/json" });
  const secretValues: string[] = [];
  for (const [name, value] of Object.entries((config.headers ?? {}) as Record<string, HeaderValue>)) {
    if (typeof value === "string") {
      headers.set(name, value);
      continue;
    }
    const secret = resolveSecret(call.secrets, value.secret_ref);
    if (!secret) return failure("SECRET_MISSING", `Secret ${value.secret_ref} for header ${name} is not configured`);
    secretValues.push(secret);
    headers.set(name, `${value.prefix ?? ""}${secret}`);
  }

  const unused = Object.fromEntries(Object.entries(params).filter(([name]) => !expanded.used.has(name)));
  let body: string | undefined;
  if (kind === "webhook") {
    body = JSON.stringify(params);
  } else if (BODY_METHODS.has(method)) {
    body = JSON.stringify(unused);
  } else {
    for (const [name, value] of Object.entries(unused)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        url.searchParams.append(name, typeof item === "object" && item !== null ? JSON.stringify(item) : String(item));
      }
    }
  }
  if (body !== undefined) headers.set("content-type", "application/json");

  const timeoutMs = Math.min(positiveNumber(config.timeout_ms) ?? DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS);
  const maxBytes = Math.min(positiveNumber(config.max_response_bytes) ?? MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([call.signal, timeout]);
  const scrub = (value: unknown) => scrubSecrets(value, secretValues);

  try {
    const response = await fetch(url, { method, headers, body, redirect: "manual", signal });
    if (response.status >= 300 && response.status < 400) {
      await response.body?.cancel();
      return failure("REDIRECT_NOT_FOLLOWED", `Upstream answered HTTP ${response.status} (redirect); redirects are not followed`);
    }
    const read = await readCapped(response, maxBytes);
    if (!read.ok) return failure("RESPONSE_TOO_LARGE", `Upstream response exceeds ${maxBytes} bytes`);
    const data = scrub(parseBody(read.text, response.headers.get("content-type")));
    if (!response.ok) {
      return failure("UPSTREAM_HTTP_ERROR", `Upstream answered HTTP ${response.status}`, { status: response.status, body: data });
    }
    return { success: true, data };
  } catch (err) {
    if (timeout.aborted) return failure("TIMEOUT", `No answer from upstream within ${timeoutMs} ms`);
    if (call.signal.aborted) return failure("CANCELLED", "The call was cancelled");
    const cause = (err as { cause?: { code?: string } }).cause;
    return failure("UPSTREAM_UNREACHABLE", scrub(`Cannot reach ${url.host}: ${cause?.code ?? (err as Error).message}`) as string);
  }
}

async function readCapped(response: Response, maxBytes: number): Promise<{ ok: true; text: string } | { ok: false }> {
  const declared = Number(response.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    return { ok: false };
  }
  if (!response.body) return { ok: true, text: "" };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return { ok: false };
    }
    chunks.push(value);
  }
  return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
}

function parseBody(text: string, contentType: string | null): unknown {
  if (text === "") return null;
  if (contentType && /\bjson\b/i.test(contentType)) {
    try {
      return JSON.parse(text);
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
