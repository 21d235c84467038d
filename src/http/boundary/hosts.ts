// DNS rebinding: a web page can make its own name resolve to the gateway's address (127.0.0.1 on a developer's
// machine). The browser then takes the gateway for the page's own origin: no CORS preflight, and the page's script
// reads every answer. What tells such a request apart is the name it was sent to (`Host`: the attacker's) and, on a
// browser's cross-site or POST request, the site it comes from (`Origin`). Every door (REST, the MCP endpoints, the
// console's assets, the WebSocket upgrade) answers only for the names the gateway is known by: one rule, here.
import { problem, type HttpProblem } from "./problem";

/** The names the gateway answers for: any (`*`), or exact host names and `*.suffix` wildcards (any port). */
export type AllowedHosts =
  | { readonly any: true }
  | { readonly any: false; readonly names: ReadonlySet<string>; readonly suffixes: readonly string[] };

/** A loopback listener answers for these by default: the names a person on that machine types. */
export const LOOPBACK_NAMES: readonly string[] = ["localhost", "127.0.0.1", "[::1]"];

/** What a Host header (or an allow-list entry) may be: a name or an IPv4 or [IPv6] address, then maybe a port. */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#@[\]:\\]+)(?::\d{0,5})?$/;
/** Longest host name echoed in a refusal (a Host header can be kilobytes long). */
const MAX_ECHOED = 255;

/**
 * The host name of a `Host` value (or an allow-list entry), in the form the WHATWG URL parser gives it: lower case,
 * IDN names in punycode, IPv4 in dotted decimal, IPv6 in brackets, one trailing dot dropped (`localhost.` is
 * `localhost`). Undefined when it is not a host (a path, credentials, spaces).
 */
export function hostNameOf(value: string): string | undefined {
  const trimmed = value.trim();
  if (!HOST_VALUE.test(trimmed)) return undefined;
  let name: string;
  try {
    name = new URL(`http://${trimmed}`).hostname;
  } catch {
    return undefined;
  }
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** Whether a listen address (HOST) is a loopback one: only then are the loopback names the default. */
export function isLoopbackHost(host: string): boolean {
  const name = entryName(host);
  return name === "localhost" || name === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(name ?? "");
}

/** An allow-list entry: a name, an IPv4 or (bracketed or bare) IPv6 address, no port; `*.` before a name. */
const ENTRY_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#@[\]:\\]+)$/;

/** The host name an allow-list entry names (its `*.` dropped), or undefined when it is not one. */
function entryName(entry: string): string | undefined {
  const bare = entry.startsWith("*.") ? entry.slice(2) : entry;
  const bracketed = bare.includes(":") && !bare.startsWith("[") ? `[${bare}]` : bare;
  return ENTRY_HOST.test(bracketed) ? hostNameOf(bracketed) : undefined;
}

/** What is wrong with a GATEHOUSE_ALLOWED_HOSTS value, if anything (start-up refuses it, naming the variable). */
export function allowedHostsProblem(raw: string): string | undefined {
  const entries = raw.split(",").map((e) => e.trim());
  if (entries.includes("*")) return entries.length === 1 ? undefined : "must be * alone, or list host names";
  const bad = entries.find((entry) => entryName(entry) === undefined);
  if (bad === undefined) return undefined;
  return `must list host names, comma-separated (no scheme, port or path: any port is accepted), or be *, got "${bad}"`;
}

/**
 * GATEHOUSE_ALLOWED_HOSTS (checked by allowedHostsProblem) and the listen address. Unset: a loopback listener
 * answers for the loopback names and its own address; any other (0.0.0.0 in a container, behind a load balancer
 * or Kubernetes probes that use names and pod addresses the gateway cannot know) answers for any name.
 */
export function allowedHostsOf(raw: string | undefined, listenHost: string): AllowedHosts {
  const value = raw?.trim() ?? "";
  if (value === "*" || (value === "" && !isLoopbackHost(listenHost))) return { any: true };
  const entries = value === "" ? [...LOOPBACK_NAMES, listenHost] : value.split(",").map((e) => e.trim());
  const names = new Set<string>();
  const suffixes: string[] = [];
  for (const entry of entries) {
    const name = entryName(entry);
    if (name === undefined) continue;
    if (entry.startsWith("*.")) suffixes.push(`.${name}`);
    else names.add(name);
  }
  return { any: false, names, suffixes };
}

function allows(allowed: AllowedHosts, name: string): boolean {
  if (allowed.any) return true;
  return allowed.names.has(name) || allowed.suffixes.some((suffix) => name.endsWith(suffix));
}

const echoed = (text: string): string => (text.length > MAX_ECHOED ? `${text.slice(0, MAX_ECHOED)}…` : text);

/** The host name of an `Origin` value (`null` and malformed ones have none). */
function originHostOf(origin: string): { shown: string; name: string | undefined } {
  try {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") return { shown: echoed(url.origin), name: undefined };
    const name = url.hostname.endsWith(".") ? url.hostname.slice(0, -1) : url.hostname;
    return { shown: echoed(url.origin), name };
  } catch {
    return { shown: origin === "null" ? "null" : "(malformed)", name: undefined };
  }
}

/**
 * hostNameOf, remembered: nearly every request of a gateway names the same few hosts, and the URL parser is a few
 * microseconds a request (issue #17). Bounded: a client sending a new Host each time only empties it.
 */
function knownHostNameOf(host: string): string | undefined {
  let name = knownHostNames.get(host);
  if (name === undefined) {
    if (knownHostNames.size >= MAX_KNOWN_HOSTS) knownHostNames.clear();
    name = hostNameOf(host) ?? null;
    knownHostNames.set(host, name);
  }
  return name ?? undefined;
}
const knownHostNames = new Map<string, string | null>();
const MAX_KNOWN_HOSTS = 256;

/**
 * Why a request is refused for the name it was sent to or the site it comes from, or undefined when it is not.
 * No `Host` at all (HTTP/1.0 health checks) is not a browser's request: no browser sends one without it.
 */
export function hostRefusal(
  allowed: AllowedHosts,
  headers: { host?: string | undefined; origin?: string | undefined },
): HttpProblem | undefined {
  if (allowed.any) return undefined;
  if (headers.host !== undefined) {
    const name = knownHostNameOf(headers.host);
    if (name === undefined || !allows(allowed, name))
      return problem(
        "HOST_NOT_ALLOWED",
        `This gateway does not answer for the host ${name ? echoed(name) : "(malformed)"} (GATEHOUSE_ALLOWED_HOSTS)`,
      );
  }
  if (headers.origin !== undefined) {
    const { shown, name } = originHostOf(headers.origin);
    if (name === undefined || !allows(allowed, name))
      return problem(
        "ORIGIN_NOT_ALLOWED",
        `This gateway does not accept browser requests from the origin ${shown} (GATEHOUSE_ALLOWED_HOSTS)`,
      );
  }
  return undefined;
}

/** What of a request the host check reads: its headers, as sent (`rawHeaders`) and as Node keeps them, and target. */
export interface HostedRequest {
  headers: { host?: string | undefined; origin?: string | undefined };
  rawHeaders?: readonly string[];
  httpVersion?: string;
  url?: string | undefined;
}

/** The authority of an absolute-form request target (`http://evil.example/x`): its scheme's `//` to the path. */
const ABSOLUTE_TARGET = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/;

/**
 * hostRefusal for a whole request, with HTTP/1.1's rules on which name it was sent to (RFC 9112 §3.2): an HTTP/1.1
 * request without `Host`, or with more than one, is 400 (Node kept the first of two: `Host: 127.0.0.1` then
 * `Host: evil.example` passed as 127.0.0.1, while a proxy may route by the last); an absolute-form target
 * (`GET http://evil.example/x`) names the host itself and `Host` is ignored, so its authority is what is checked.
 */
export function requestHostRefusal(allowed: AllowedHosts, req: HostedRequest): HttpProblem | undefined {
  const hosts = hostFieldCount(req.rawHeaders);
  if (hosts > 1) return problem("MALFORMED_REQUEST", "The request has more than one Host header");
  if (hosts === 0 && req.httpVersion === "1.1")
    return problem("MALFORMED_REQUEST", "An HTTP/1.1 request must have a Host header");
  const url = req.url ?? "/";
  const absolute = url.charCodeAt(0) === 0x2f /* / */ ? null : ABSOLUTE_TARGET.exec(url);
  if (!absolute) return hostRefusal(allowed, req.headers);
  return hostRefusal(allowed, { host: absolute[1] ?? "", origin: req.headers.origin });
}

/** How many `Host` fields a request sent (the headers' object keeps one); 1 when only that object is known. */
function hostFieldCount(rawHeaders: readonly string[] | undefined): number {
  if (rawHeaders === undefined) return 1;
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 4 && name.toLowerCase() === "host") count++;
  }
  return count;
}
