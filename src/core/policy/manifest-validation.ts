// Validates a manifest and lists EVERY problem (the operator fixes a file once, not once per error).
// Ajv already checked the JSON types on the REST path; this also runs for manifests loaded from disk,
// so it re-checks the shape defensively and then the cross-field rules the schema cannot express.
import type { components } from "../../../generated/api-types";
import { validateConnectorConfig } from "../connectors/validation";
import { ALPHA2_CODES } from "./jurisdictions";
import { splitValues } from "./normalize";
import type { ManifestInput } from "./types";

/** One problem, as the spec's ProblemItem: a JSON pointer into the manifest and what is wrong there. */
export type ManifestProblem = components["schemas"]["ProblemItem"];

/** Checks a document against the spec's `ManifestInput` schema (the HTTP layer's Ajv, wired by the server). */
export type ManifestSchemaCheck = (input: unknown) => ManifestProblem[];

export const CAPABILITY_PATTERN = /^[a-z][a-z0-9_.-]*:[a-z][a-z0-9_.-]*$/;
const CURRENCY_PATTERN = /^[A-Z]{3}$/;
const JURISDICTION_PATTERN = /^[A-Z]{2}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === "string" && v.trim() !== "";
const escapePointer = (key: string) => key.replace(/~/g, "~0").replace(/\//g, "~1");

export function validateManifest(input: unknown): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const add = (pointer: string, message: string) => problems.push({ pointer, message });

  if (!isObject(input)) return [{ pointer: "", message: "a manifest must be an object" }];
  const m = input as Partial<ManifestInput> & Record<string, unknown>;

  if (
    m.manifest_id !== undefined &&
    !(typeof m.manifest_id === "string" && /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(m.manifest_id))
  )
    add("/manifest_id", "manifest_id may only hold letters, digits, '_', '-' (max 64), e.g. a UUID");
  if (!isNonEmptyString(m.uapk_id)) add("/uapk_id", "uapk_id is required");
  else if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/.test(m.uapk_id))
    add("/uapk_id", "uapk_id may only hold letters, digits, '_', '.', ':', '-' (max 128)");

  if (!isObject(m.agent)) add("/agent", "agent {id, name} is required");
  else {
    if (!isNonEmptyString(m.agent.id)) add("/agent/id", "agent.id is required");
    // Requests name the agent by it: one holding a control or invisible character is not what an operator reads
    // (and PostgreSQL cannot store NUL). Requests holding control characters are refused at the boundary anyway.
    else if (/[\p{Cc}\p{Cf}]/u.test(m.agent.id) || m.agent.id.trim() !== m.agent.id)
      add("/agent/id", "agent.id may not hold control or invisible characters, nor start or end with a space");
    if (!isNonEmptyString(m.agent.name)) add("/agent/name", "agent.name is required");
  }

  const capabilities = Array.isArray(m.capabilities) ? m.capabilities : [];
  if (!Array.isArray(m.capabilities) || m.capabilities.length === 0)
    add("/capabilities", "capabilities must list at least one type:tool");
  const declared = new Set<string>();
  capabilities.forEach((cap, i) => {
    if (typeof cap !== "string" || !CAPABILITY_PATTERN.test(cap))
      add(`/capabilities/${i}`, `'${String(cap)}' is not of the form type:tool`);
    else if (declared.has(cap)) add(`/capabilities/${i}`, `capability '${cap}' is listed twice`);
    else declared.add(cap);
  });

  // Every capability needs a tool with a connector; a tool without a capability is a typo waiting to bite.
  const tools = isObject(m.tools) ? m.tools : undefined;
  if (!tools) add("/tools", "tools is required (one entry per capability)");
  for (const cap of declared) {
    const tool = tools?.[cap];
    if (!isObject(tool) || !isObject(tool.connector))
      add(`/tools/${escapePointer(cap)}`, `capability '${cap}' has no tool with a connector`);
  }
  for (const [key, tool] of Object.entries(tools ?? {})) {
    const at = `/tools/${escapePointer(key)}`;
    if (!declared.has(key)) add(at, `tool '${key}' is not one of the capabilities`);
    if (!isObject(tool) || !isObject(tool.connector)) continue;
    // The connector block is checked in the connectors' own vocabulary (src/core/connectors/validation.ts).
    for (const problem of validateConnectorConfig(tool.connector))
      add(`${at}/connector${problem.pointer}`, problem.message);
    if (tool.redact !== undefined) checkRedactPaths(tool.redact, `${at}/redact`, add);
    for (const field of ["recipient_params", "amount_params"] as const)
      checkStringList(tool[field], `${at}/${field}`, add);
    for (const field of ["recipient_params_only", "amount_params_only"] as const)
      if (tool[field] !== undefined && typeof tool[field] !== "boolean")
        add(`${at}/${field}`, `${field} must be a boolean`);
  }

  const constraints = m.constraints;
  if (constraints !== undefined) {
    if (!isObject(constraints)) add("/constraints", "constraints must be an object");
    else {
      const max = constraints.max_actions_per_hour;
      if (max !== undefined && !(Number.isInteger(max) && (max as number) >= 0))
        add("/constraints/max_actions_per_hour", "max_actions_per_hour must be a non-negative integer");
      if (constraints.max_amount_per_hour !== undefined)
        checkAmountPerHour(constraints.max_amount_per_hour, "/constraints/max_amount_per_hour", declared, add);
      checkCapabilityList(constraints.require_human_approval, "/constraints/require_human_approval", declared, add);
    }
  }

  const policy = m.policy;
  if (policy !== undefined) {
    if (!isObject(policy)) add("/policy", "policy must be an object");
    else {
      for (const list of ["counterparty_allowlist", "counterparty_blocklist"] as const) {
        checkStringList(policy[list], `/policy/${list}`, add);
        checkPatterns(policy[list], `/policy/${list}`, add);
      }
      for (const list of ["jurisdiction_allowlist", "jurisdiction_blocklist"] as const) {
        checkStringList(policy[list], `/policy/${list}`, add);
        (Array.isArray(policy[list]) ? (policy[list] as unknown[]) : []).forEach((j, i) => {
          if (typeof j === "string" && (!JURISDICTION_PATTERN.test(j) || !ALPHA2_CODES.has(j)))
            add(`/policy/${list}/${i}`, `'${j}' is not an ISO 3166-1 alpha-2 code (e.g. DE)`);
        });
      }
      checkCapabilityList(policy.high_risk_actions, "/policy/high_risk_actions", declared, add);
      const threshold = policy.amount_threshold;
      if (threshold !== undefined) {
        if (!isObject(threshold)) add("/policy/amount_threshold", "amount_threshold must be {amount, currency}");
        else {
          if (typeof threshold.amount !== "number" || !Number.isFinite(threshold.amount) || threshold.amount < 0)
            add("/policy/amount_threshold/amount", "amount_threshold needs a non-negative amount");
          if (typeof threshold.currency !== "string" || !CURRENCY_PATTERN.test(threshold.currency))
            add("/policy/amount_threshold/currency", "amount_threshold needs an ISO 4217 currency");
          checkCapabilityList(threshold.actions, "/policy/amount_threshold/actions", declared, add);
        }
      }
    }
  }
  return problems;
}

/** The largest hourly money budget: its millionths (the counters' unit) stay exact integers in a double. */
export const MAX_AMOUNT_PER_HOUR = 1_000_000_000;

/** `{amount, currency, actions?}`: an amount the counters hold exactly (millionths), in an ISO 4217 currency. */
function checkAmountPerHour(
  value: unknown,
  pointer: string,
  declared: Set<string>,
  add: (p: string, m: string) => void,
): void {
  if (!isObject(value)) return add(pointer, "max_amount_per_hour must be {amount, currency}");
  const amount = value.amount;
  if (typeof amount !== "number" || !Number.isFinite(amount) || amount < 0 || amount > MAX_AMOUNT_PER_HOUR)
    add(`${pointer}/amount`, `max_amount_per_hour needs an amount from 0 to ${MAX_AMOUNT_PER_HOUR}`);
  else if (Number(amount.toFixed(6)) !== amount)
    add(`${pointer}/amount`, "max_amount_per_hour.amount may have at most 6 decimal places");
  if (typeof value.currency !== "string" || !CURRENCY_PATTERN.test(value.currency))
    add(`${pointer}/currency`, "max_amount_per_hour needs an ISO 4217 currency");
  checkCapabilityList(value.actions, `${pointer}/actions`, declared, add);
}

/** Redaction paths start at `params` or `result` (src/core/audit/redact.ts); anything else would silently redact nothing. */
function checkRedactPaths(value: unknown, pointer: string, add: (p: string, m: string) => void): void {
  if (!Array.isArray(value))
    return add(pointer, "redact must be a list of paths such as params.body or result.data.body");
  value.forEach((path, i) => {
    if (typeof path !== "string" || !/^(params|result)(\.[^.]+)*$/.test(path))
      add(`${pointer}/${i}`, `'${String(path)}' is not a redaction path starting with params or result`);
  });
}

/**
 * Recipient patterns (the counterparty lists, a token's `allowed_recipients`): an entry holding a separator would
 * read as two entries once values are split (./normalize.ts), and a blank one names no recipient — either could
 * never match what the author meant.
 */
export function checkPatterns(value: unknown, pointer: string, add: (p: string, m: string) => void): void {
  if (!Array.isArray(value)) return;
  value.forEach((item, i) => {
    if (typeof item !== "string") return;
    if (item.trim() === "") add(`${pointer}/${i}`, "a pattern must not be empty");
    else if (/[,;\p{Cc}]/u.test(item))
      add(
        `${pointer}/${i}`,
        `'${splitValues(item).join(" ")}' holds a separator (, ; or a control character): one pattern per entry`,
      );
  });
}

function checkStringList(value: unknown, pointer: string, add: (p: string, m: string) => void): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) return add(pointer, "must be a list of strings");
  value.forEach((item, i) => {
    if (!isNonEmptyString(item)) add(`${pointer}/${i}`, "must be a non-empty string");
  });
}

/** Lists of capabilities must name declared ones: a rule on an unknown capability would silently never fire. */
function checkCapabilityList(
  value: unknown,
  pointer: string,
  declared: Set<string>,
  add: (p: string, m: string) => void,
): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) return add(pointer, "must be a list of type:tool capabilities");
  value.forEach((cap, i) => {
    if (typeof cap !== "string" || !CAPABILITY_PATTERN.test(cap))
      add(`${pointer}/${i}`, `'${String(cap)}' is not of the form type:tool`);
    else if (!declared.has(cap)) add(`${pointer}/${i}`, `'${cap}' is not one of the capabilities`);
  });
}
