// Which operation a request names: the spec's paths as a table built once, looked up per request without a
// regular expression per route. It matches what the router matched before it (path-to-regexp's defaults as
// @koa/router used them): case-insensitive literal segments, one optional trailing slash, a parameter is one
// non-empty segment (percent-decoded; left as sent when its encoding is malformed), literal segments win over
// parameters, and a GET route answers HEAD too.
import type { OperationSpec } from "./spec";

export interface RouteMatch {
  op: OperationSpec;
  params: Record<string, string>;
}

interface Route {
  op: OperationSpec;
  methods: readonly string[];
  /** Per segment: the literal (lower case) or, for `{name}`, the parameter's name. */
  segments: readonly Segment[];
}

type Segment = { literal: string } | { param: string };

export interface RouteTable {
  /** The operation for this method and raw (still percent-encoded) path, with its decoded parameters. */
  match(method: string, path: string): RouteMatch | undefined;
  /** The methods some operation answers at this path (empty: no operation has this path). */
  methodsAt(path: string): string[];
}

export function buildRouteTable(operations: readonly OperationSpec[]): RouteTable {
  const routes = [...operations].sort(bySpecificity).map(routeOf);
  // Literal paths (most of the hot ones: /health, /purutos, evaluate, execute) by method, then by lower-case path.
  const literal = new Map<string, Map<string, Route>>();
  // Paths with parameters by method, most specific first.
  const withParams = new Map<string, Route[]>();
  for (const route of routes) {
    const isLiteral = route.segments.every((s) => "literal" in s);
    for (const method of route.methods) {
      if (isLiteral) {
        const byPath = literal.get(method) ?? new Map<string, Route>();
        const key = asciiLowerCase(route.op.path);
        if (!byPath.has(key)) byPath.set(key, route);
        literal.set(method, byPath);
      } else {
        withParams.set(method, [...(withParams.get(method) ?? []), route]);
      }
    }
  }
  return {
    match(method, path) {
      const trimmed = withoutTrailingSlash(path);
      const found = literal.get(method)?.get(asciiLowerCase(trimmed));
      if (found) return { op: found.op, params: {} };
      const candidates = withParams.get(method);
      if (!candidates) return undefined;
      const parts = trimmed.split("/");
      const lowerParts = asciiLowerCase(trimmed).split("/");
      for (const route of candidates) {
        const params = paramsIfMatches(route, parts, lowerParts);
        if (params) return { op: route.op, params };
      }
      return undefined;
    },
    methodsAt(path) {
      const trimmed = withoutTrailingSlash(path);
      const parts = trimmed.split("/");
      const lowerParts = asciiLowerCase(trimmed).split("/");
      const methods = new Set<string>();
      for (const route of routes) {
        // A dot segment (`.`, `..`, as sent or percent-encoded) is a place in a path, not a name: a route of
        // another method does not make it a 405 (`GET /purutos/./x` is no route, 404). The route of the request's
        // own method still takes it as a parameter, so its handler answers (e.g. 404 PURUTO_NOT_FOUND).
        if (paramsIfMatches(route, parts, lowerParts, false)) for (const m of route.methods) methods.add(m);
      }
      return [...methods];
    },
  };
}

function routeOf(op: OperationSpec): Route {
  const method = op.method.toUpperCase();
  return {
    op,
    methods: method === "GET" ? ["HEAD", "GET"] : [method],
    segments: op.path
      .split("/")
      .map((s) => (s.startsWith("{") ? { param: s.slice(1, -1) } : { literal: asciiLowerCase(s) })),
  };
}

const ASCII_UPPER = /[A-Z]/;

/**
 * Only A–Z fold (as the regular expressions' `i` flag did for these paths): Unicode lower-casing would let a
 * look-alike such as the Kelvin sign (K, U+212A → "k") name a literal segment.
 */
function asciiLowerCase(text: string): string {
  return ASCII_UPPER.test(text) ? text.replace(/[A-Z]+/g, (upper) => upper.toLowerCase()) : text;
}

/** One trailing slash is allowed (`/health/`), not two, and `/` stays `/`. */
function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/** `parts`: the path's segments as sent; `lowerParts`: the same in lower case (literals compare without case). */
function paramsIfMatches(
  route: Route,
  parts: readonly string[],
  lowerParts: readonly string[],
  acceptDots = true,
): Record<string, string> | undefined {
  if (parts.length !== route.segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const segment = route.segments[i] as Segment;
    if ("literal" in segment) {
      if (lowerParts[i] !== segment.literal) return undefined;
    } else {
      if (part === "") return undefined;
      const value = decodedSegment(part);
      if (!acceptDots && (value === "." || value === "..")) return undefined;
      params[segment.param] = value;
    }
  }
  return params;
}

function decodedSegment(part: string): string {
  if (!part.includes("%")) return part;
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** Literal segments before parameters, so `/interactions/verify` is not taken for `/interactions/{id}`. */
function bySpecificity(a: OperationSpec, b: OperationSpec): number {
  const sa = a.path.split("/");
  const sb = b.path.split("/");
  for (const [i, segment] of sa.entries()) {
    const other = sb[i];
    if (other === undefined) break;
    const pa = segment.startsWith("{");
    const pb = other.startsWith("{");
    if (pa !== pb) return pa ? 1 : -1;
  }
  return 0;
}
