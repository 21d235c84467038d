// Validators for every WebSocket frame, from the AsyncAPI document (the only place a message shape is written).
// Preferred source: the lead's `make generate` output (generated/messages/<Name>.schema.json + index.json).
// Until that exists we parse spec/sessions.asyncapi.yaml with @asyncapi/parser and inline the same schemas.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { ID_PATTERN, ID_PATTERN_MESSAGE, idRuleRegExp } from "../../http/control-characters";

/** Which socket and which way, from Gatehouse's point of view. */
export type FrameRoute = "ide_in" | "ide_out" | "runtime_out" | "runtime_in";

export type ValidationResult =
  | { ok: true; frame: Record<string, unknown> & { type: string } }
  | { ok: false; errors: Array<{ pointer: string; message: string }> };

export interface MessageValidators {
  /** Validate a parsed frame for a route; the frame's `type` picks the schema. */
  validate(route: FrameRoute, frame: unknown): ValidationResult;
  /** Message types known on a route (bounded metric labels). */
  types(route: FrameRoute): ReadonlySet<string>;
}

interface MessageEntry {
  channel: string;
  action: "send" | "receive";
  schema: Record<string, unknown>;
}

const here = dirname(fileURLToPath(import.meta.url));
const projectRoot = resolve(here, "../../..");

function routeOf(channel: string, action: "send" | "receive"): FrameRoute | undefined {
  const ide = channel === "session" || channel === "/ws/{session_id}";
  const runtime = channel === "runtimeSession" || channel === "/runtime/sessions/{session_id}";
  if (ide) return action === "receive" ? "ide_in" : "ide_out";
  if (runtime) return action === "send" ? "runtime_out" : "runtime_in";
  return undefined;
}

/** Removes the parser's bookkeeping keys (`x-parser-*`); Ajv's strict mode rejects unknown keywords. */
export function stripParserKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripParserKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !k.startsWith("x-parser-"))
        .map(([k, v]) => [k, stripParserKeys(v)]),
    );
  }
  return value;
}

function fromGenerated(dir: string): MessageEntry[] | undefined {
  const indexFile = join(dir, "index.json");
  if (!existsSync(indexFile)) return undefined;
  const index = JSON.parse(readFileSync(indexFile, "utf8")) as Record<
    string,
    { channel: string; action: "send" | "receive" }
  >;
  const entries: MessageEntry[] = [];
  for (const [name, { channel, action }] of Object.entries(index)) {
    if (!routeOf(channel, action)) continue; // another AsyncAPI document's message
    const schema = JSON.parse(readFileSync(join(dir, `${name}.schema.json`), "utf8")) as Record<string, unknown>;
    entries.push({ channel, action, schema });
  }
  return entries.length ? entries : undefined;
}

async function fromSpec(specFile: string): Promise<MessageEntry[]> {
  const { Parser } = await import("@asyncapi/parser");
  const { document, diagnostics } = await new Parser().parse(readFileSync(specFile, "utf8"));
  if (!document) {
    const errors = diagnostics.filter((d) => d.severity === 0).map((d) => d.message);
    throw new Error(`Cannot parse ${specFile}: ${errors.join("; ")}`);
  }
  const entries: MessageEntry[] = [];
  for (const op of document.operations().all()) {
    const action = op.action() as "send" | "receive";
    for (const channel of op.channels().all()) {
      for (const message of op.messages().all()) {
        const schema = stripParserKeys(message.payload()?.json()) as Record<string, unknown>;
        entries.push({ channel: channel.id(), action, schema });
      }
    }
  }
  return entries;
}

function typeOf(schema: Record<string, unknown>): string | undefined {
  const props = schema.properties as Record<string, { const?: unknown }> | undefined;
  const t = props?.type?.const;
  return typeof t === "string" ? t : undefined;
}

// An invalid frame is answered with at most this many problems, each naming at most PREVIEW_CHARS of what the
// frame held: a 1 MiB frame of unknown keys (or one unknown 900 KB type) was answered with megabytes.
const MAX_REPORTED_ERRORS = 10;
const PREVIEW_CHARS = 64;

function preview(text: string): string {
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}

/** What a frame breaking one rule is told: the id rule in words (as REST says it), not its 1.8 KB expression. */
function messageOf(e: ErrorObject): string {
  if (e.keyword === "additionalProperties")
    return `unknown property ${preview((e.params as { additionalProperty: string }).additionalProperty)}`;
  if (e.keyword === "pattern" && (e.params as { pattern: string }).pattern === ID_PATTERN) return ID_PATTERN_MESSAGE;
  return e.message ?? "invalid";
}

function pointerErrors(errors: ErrorObject[] | null | undefined) {
  const all = errors ?? [];
  const reported = all.slice(0, MAX_REPORTED_ERRORS).map((e) => ({
    // Point at the missing member itself, not at its parent object.
    pointer: preview(
      e.keyword === "required"
        ? `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`
        : e.instancePath || "/",
    ),
    message: messageOf(e),
  }));
  const more = all.length - reported.length;
  if (more > 0) reported.push({ pointer: "/", message: `and ${more} more problems` });
  return reported;
}

export function buildValidators(entries: MessageEntry[]): MessageValidators {
  // The spec's id pattern compiled as the server's whole id rule, as REST's (../../http/control-characters.ts).
  const ajv = new Ajv2020({ strict: true, allErrors: true, code: { regExp: idRuleRegExp } });
  const byRoute = new Map<FrameRoute, Map<string, ValidateFunction>>();
  for (const { channel, action, schema } of entries) {
    const route = routeOf(channel, action);
    const type = typeOf(schema);
    if (!route || !type) continue;
    if (!byRoute.has(route)) byRoute.set(route, new Map());
    byRoute.get(route)!.set(type, ajv.compile(schema));
  }
  return {
    validate(route, frame) {
      if (!frame || typeof frame !== "object" || Array.isArray(frame)) {
        return { ok: false, errors: [{ pointer: "/", message: "a frame must be a JSON object" }] };
      }
      const type = (frame as { type?: unknown }).type;
      const validator = typeof type === "string" ? byRoute.get(route)?.get(type) : undefined;
      if (!validator) {
        const known = [...(byRoute.get(route)?.keys() ?? [])].join(", ");
        const got = typeof type === "string" ? `unknown message type '${preview(type)}'` : "type is missing";
        return { ok: false, errors: [{ pointer: "/type", message: `${got}; must be one of: ${known}` }] };
      }
      if (!validator(frame)) return { ok: false, errors: pointerErrors(validator.errors) };
      return { ok: true, frame: frame as Record<string, unknown> & { type: string } };
    },
    types(route) {
      return new Set(byRoute.get(route)?.keys() ?? []);
    },
  };
}

let cached: Promise<MessageValidators> | undefined;

/** Loads once per process: generated schemas when present, else the AsyncAPI document itself. */
export function loadMessageValidators(
  opts: { generatedDir?: string; specFile?: string } = {},
): Promise<MessageValidators> {
  const useDefaults = !opts.generatedDir && !opts.specFile;
  if (useDefaults && cached) return cached;
  const load = (async () => {
    const generated = fromGenerated(opts.generatedDir ?? join(projectRoot, "generated/messages"));
    if (generated) {
      const validators = buildValidators(generated);
      const routes: FrameRoute[] = ["ide_in", "ide_out", "runtime_out", "runtime_in"];
      if (routes.every((r) => validators.types(r).size > 0)) return validators;
    }
    return buildValidators(await fromSpec(opts.specFile ?? join(projectRoot, "spec/sessions.asyncapi.yaml")));
  })();
  if (useDefaults) cached = load;
  return load;
}
