// A seeded, schema-derived fuzzer over every operation of generated/openapi.json. Each request is built from the
// operation's parameters and request body schema (see generate.ts), sometimes with hostile values, raw bodies
// that are not JSON, the wrong media type or missing credentials. Success means: no 5xx, and every 4xx is
// application/problem+json. Every 5xx is kept with what is needed to replay it.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Generator, type Schema, seededRandom } from "./generate";

interface Operation {
  method: string;
  path: string;
  operationId: string;
  parameters: { name: string; in: string; required?: boolean; schema: Schema }[];
  bodySchema?: Schema;
  security: string[];
}

export interface FuzzTarget {
  url: string;
  apiKey: string;
  operatorToken: string;
  orgId: string;
}

export interface FuzzRequest {
  operationId: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Finding {
  request: FuzzRequest;
  status: number;
  contentType: string;
  excerpt: string;
}

export interface FuzzReport {
  seed: number;
  requests: number;
  statuses: Record<string, number>;
  byOperation: Record<string, number>;
  serverErrors: Finding[];
  nonProblem4xx: Finding[];
  networkErrors: { request: FuzzRequest; message: string }[];
}

const SPEC = resolve(import.meta.dirname, "../../generated/openapi.json");

export function loadOperations(): { operations: Operation[]; components: Record<string, Schema> } {
  const spec = JSON.parse(readFileSync(SPEC, "utf8")) as {
    paths: Record<string, Record<string, Record<string, unknown>>>;
    components: { schemas: Record<string, Schema>; parameters?: Record<string, Schema> };
  };
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (typeof op !== "object" || !op || typeof op.operationId !== "string") continue;
      const parameters = ((op.parameters as Schema[] | undefined) ?? []).map((p) =>
        typeof p.$ref === "string" ? (spec.components.parameters?.[p.$ref.split("/").pop() as string] ?? {}) : p,
      ) as Operation["parameters"];
      const content = (op.requestBody as { content?: Record<string, { schema: Schema }> } | undefined)?.content;
      const security = ((op.security as Record<string, unknown>[] | undefined) ?? []).flatMap((s) => Object.keys(s));
      operations.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId,
        parameters,
        ...(content?.["application/json"] ? { bodySchema: content["application/json"].schema } : {}),
        security,
      });
    }
  }
  return { operations, components: spec.components.schemas };
}

/** Lone surrogates replaced: a URL cannot carry them (a client library could not send them either). */
function wellFormed(value: string): string {
  return value.replace(/[\ud800-\udfff]/g, "\ufffd");
}

/** Hostile raw bodies: not JSON, or JSON the parser must refuse before anything reads it. */
const RAW_BODIES = [
  "{",
  "",
  "null",
  "[]",
  '"text"',
  '{"a":1e309}',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"x":1}}}',
  '{"a":1,"a":2}',
  "\ufeff{}",
  '{"amount":-1e400}',
];

function buildRequest(g: Generator, op: Operation, target: FuzzTarget): FuzzRequest {
  const hostility = g.chance(0.35) ? g.pick([0.02, 0.1, 0.3]) : 0;
  let path = op.path;
  const query = new URLSearchParams();
  const headers: Record<string, string> = {};
  for (const p of op.parameters) {
    if (p.in === "path") {
      const value = p.name === "org_id" && g.chance(0.8) ? target.orgId : String(g.value(p.schema, hostility));
      path = path.replace(`{${p.name}}`, encodeURIComponent(wellFormed(value.slice(0, 3000))));
    } else if (p.in === "query" && (p.required || g.chance(0.5))) {
      const value = g.value(p.schema, hostility);
      query.set(p.name, wellFormed(typeof value === "string" ? value.slice(0, 3000) : (JSON.stringify(value) ?? "")));
    } else if (p.in === "header" && g.chance(0.5)) {
      headers[p.name] = String(g.value(p.schema, hostility))
        .replace(/[^\x20-\x7e]/g, "")
        .slice(0, 2000);
    }
  }
  if (g.chance(0.93)) {
    if (op.security.includes("ApiKeyAuth")) headers["x-api-key"] = target.apiKey;
    if (op.security.includes("BearerAuth")) headers.authorization = `Bearer ${target.operatorToken}`;
  } else if (g.chance(0.5)) {
    headers["x-api-key"] = "wrong-key";
    headers.authorization = "Bearer not.a.token";
  }
  let body: string | undefined;
  // fetch cannot send a body with GET; other methods sometimes get one they did not ask for.
  if (op.bodySchema || (op.method !== "GET" && g.chance(0.05))) {
    headers["content-type"] = g.chance(0.97) ? "application/json" : g.pick(["text/plain", "application/xml"]);
    if (g.chance(0.08)) body = g.pick(RAW_BODIES);
    else if (g.chance(0.03)) {
      const depth = g.int(30, 100_000);
      body = `{"deep":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    } else body = JSON.stringify(g.value(op.bodySchema ?? {}, hostility));
  }
  const qs = query.toString();
  return {
    operationId: op.operationId,
    method: op.method,
    path: qs ? `${path}?${qs}` : path,
    headers,
    ...(body !== undefined ? { body } : {}),
  };
}

/** The request as a curl line (bodies over 2 KB are cut; the seed replays them exactly). */
export function repro(target: FuzzTarget, r: FuzzRequest): string {
  const headers = Object.entries(r.headers)
    .map(([k, v]) => `-H '${k}: ${v.slice(0, 200)}'`)
    .join(" ");
  const body = r.body === undefined ? "" : ` --data-raw '${r.body.slice(0, 2000).replace(/'/g, "'\\''")}'`;
  return `curl -X ${r.method} '${target.url}${r.path}' ${headers}${body}`;
}

async function send(target: FuzzTarget, r: FuzzRequest, report: FuzzReport): Promise<void> {
  let res: Response;
  try {
    res = await fetch(target.url + r.path, {
      method: r.method,
      headers: r.headers,
      ...(r.body !== undefined ? { body: r.body } : {}),
    });
  } catch (err) {
    report.networkErrors.push({ request: r, message: (err as Error).message });
    return;
  }
  const contentType = res.headers.get("content-type") ?? "";
  // An event stream that was accepted never ends by itself (the approvals feed): its status is the answer.
  const streaming = contentType.startsWith("text/event-stream");
  if (streaming) await res.body?.cancel();
  const text = streaming ? "" : await res.text();
  report.statuses[res.status] = (report.statuses[res.status] ?? 0) + 1;
  report.byOperation[r.operationId] = (report.byOperation[r.operationId] ?? 0) + 1;
  const finding = { request: r, status: res.status, contentType, excerpt: text.slice(0, 300) };
  if (res.status >= 500) report.serverErrors.push(finding);
  else if (res.status >= 400 && !isProblem(contentType, text)) report.nonProblem4xx.push(finding);
}

function isProblem(contentType: string, text: string): boolean {
  if (!contentType.startsWith("application/problem+json")) return false;
  try {
    const body = JSON.parse(text) as { status?: unknown; title?: unknown };
    return typeof body.status === "number" && typeof body.title === "string";
  } catch {
    return false;
  }
}

export async function fuzz(
  target: FuzzTarget,
  options: { seed: number; requests: number; concurrency?: number },
): Promise<FuzzReport> {
  const { operations, components } = loadOperations();
  const g = new Generator(seededRandom(options.seed), components);
  const report: FuzzReport = {
    seed: options.seed,
    requests: options.requests,
    statuses: {},
    byOperation: {},
    serverErrors: [],
    nonProblem4xx: [],
    networkErrors: [],
  };
  // Requests are generated up front, in order, so the seed alone reproduces them whatever the timing.
  const requests = Array.from({ length: options.requests }, (_, i) =>
    buildRequest(g, operations[i % operations.length] as Operation, target),
  );
  let next = 0;
  const worker = async () => {
    while (next < requests.length) await send(target, requests[next++] as FuzzRequest, report);
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  return report;
}

export function formatReport(target: FuzzTarget, report: FuzzReport): string {
  const lines = [`fuzz: seed ${report.seed}, ${report.requests} requests`, "status histogram:"];
  for (const [status, count] of Object.entries(report.statuses).sort()) lines.push(`  ${status}: ${count}`);
  lines.push(`5xx: ${report.serverErrors.length}`);
  for (const f of report.serverErrors)
    lines.push(`  ${f.status} ${f.request.operationId}: ${f.excerpt}\n    ${repro(target, f.request)}`);
  lines.push(`4xx not problem+json: ${report.nonProblem4xx.length}`);
  for (const f of report.nonProblem4xx.slice(0, 20))
    lines.push(
      `  ${f.status} ${f.contentType} ${f.request.operationId}: ${f.excerpt}\n    ${repro(target, f.request)}`,
    );
  lines.push(`network errors: ${report.networkErrors.length}`);
  for (const e of report.networkErrors.slice(0, 20)) lines.push(`  ${e.message}\n    ${repro(target, e.request)}`);
  return lines.join("\n");
}
