// ONE extraction of what an action does, read from what the connector will receive (`action.params`, passed to
// it unchanged) plus the action's declared facts. Policy checks compare THESE values, never only the declared
// `counterparty`/`amount`, so an agent cannot declare one recipient and send to another.
//
// Well-known params, at any depth and in any letter case (`To`, `E_MAIL`, full-width…):
//   recipients    to, cc, bcc, recipient(s), email(s), email_address(es), counterparty/counterparties — a string,
//                 a number, an array of them, or `{email}` / `{address}` objects (an object without those keys
//                 counts with every string inside it: the connector may read any of them)
//   amounts       amount (a number, a numeric string, or `{value}` / `{amount}`)
//   currencies    currency
//   jurisdictions jurisdiction, country, country_code
// A manifest tool may declare more (ToolConfig `recipient_params`, `amount_params`: dot paths into params, e.g.
// `payee.iban`; a segment walks every element of an array). Walking is bounded: params too deep or too large to
// walk completely are reported as `incomplete`, and every rule that depends on them fails closed.
import type { Action, ToolConfig } from "./types";

/** One value found in the action and where (`action.counterparty`, `params.to[1]`, `params.payee.email`). */
export interface Found<T> {
  source: string;
  value: T;
}

export interface ActionFacts {
  recipients: Found<string>[];
  amounts: Found<unknown>[];
  currencies: Found<string>[];
  jurisdictions: Found<string>[];
  /** Why the params could not be walked completely (rules then fail closed), when they could not. */
  incomplete?: string;
}

export const MAX_PARAM_DEPTH = 32;
export const MAX_PARAM_NODES = 10_000;

const RECIPIENT_KEYS = new Set([
  "to",
  "cc",
  "bcc",
  "recipient",
  "recipients",
  "email",
  "emails",
  "emailaddress",
  "emailaddresses",
  "counterparty",
  "counterparties",
]);
const ADDRESS_KEYS = new Set(["email", "address", "emailaddress"]);
const AMOUNT_KEYS = new Set(["amount"]);
const CURRENCY_KEYS = new Set(["currency"]);
const JURISDICTION_KEYS = new Set(["jurisdiction", "country", "countrycode"]);

/** A param name as the well-known lists spell it: NFKC, lower case, letters and digits only. */
export function foldKey(key: string): string {
  return key
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]/gu, "");
}

type ExtractableAction = Pick<Action, "params" | "amount" | "currency" | "counterparty" | "jurisdiction">;

export function extractActionFacts(
  action: ExtractableAction,
  tool?: Pick<ToolConfig, "recipient_params" | "amount_params">,
): ActionFacts {
  const facts: ActionFacts = { recipients: [], amounts: [], currencies: [], jurisdictions: [] };
  if (action.counterparty !== undefined)
    facts.recipients.push({ source: "action.counterparty", value: String(action.counterparty) });
  if (action.jurisdiction !== undefined)
    facts.jurisdictions.push({ source: "action.jurisdiction", value: String(action.jurisdiction) });
  if (action.currency !== undefined)
    facts.currencies.push({ source: "action.currency", value: String(action.currency) });

  const budget = { nodes: 0 };
  const fail = (why: string) => {
    facts.incomplete ??= why;
  };
  walk(action.params, "params", 0, facts, budget, fail);
  for (const path of tool?.recipient_params ?? [])
    for (const hit of resolvePath(action.params, path))
      collectRecipients(hit.value, `params.${hit.source}`, 0, facts.recipients, fail);
  for (const path of tool?.amount_params ?? [])
    for (const hit of resolvePath(action.params, path))
      facts.amounts.push({ source: `params.${hit.source}`, value: hit.value });
  return facts;
}

/** Every well-known key anywhere in the params. */
function walk(
  node: unknown,
  source: string,
  depth: number,
  facts: ActionFacts,
  budget: { nodes: number },
  fail: (why: string) => void,
): void {
  if (++budget.nodes > MAX_PARAM_NODES) return fail(`params have more than ${MAX_PARAM_NODES} values`);
  if (depth > MAX_PARAM_DEPTH) return fail(`params are nested deeper than ${MAX_PARAM_DEPTH}`);
  if (Array.isArray(node)) {
    node.forEach((item, i) => {
      walk(item, `${source}[${i}]`, depth + 1, facts, budget, fail);
    });
    return;
  }
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    const folded = foldKey(key);
    const here = `${source}.${key}`;
    if (RECIPIENT_KEYS.has(folded)) collectRecipients(value, here, 0, facts.recipients, fail);
    if (AMOUNT_KEYS.has(folded)) facts.amounts.push({ source: here, value });
    if (CURRENCY_KEYS.has(folded) && isScalar(value)) facts.currencies.push({ source: here, value: String(value) });
    if (JURISDICTION_KEYS.has(folded)) collectScalars(value, here, facts.jurisdictions);
    walk(value, here, depth + 1, facts, budget, fail);
  }
}

/** The recipients a value under a recipient key stands for. */
function collectRecipients(
  value: unknown,
  source: string,
  depth: number,
  into: Found<string>[],
  fail: (why: string) => void,
): void {
  if (depth > MAX_PARAM_DEPTH) return fail(`recipients are nested deeper than ${MAX_PARAM_DEPTH}`);
  if (isScalar(value)) {
    into.push({ source, value: String(value) });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      collectRecipients(item, `${source}[${i}]`, depth + 1, into, fail);
    });
    return;
  }
  if (!isObject(value)) return;
  const addressKeys = Object.keys(value).filter((k) => ADDRESS_KEYS.has(foldKey(k)));
  const keys = addressKeys.length > 0 ? addressKeys : Object.keys(value);
  for (const key of keys) collectRecipients(value[key], `${source}.${key}`, depth + 1, into, fail);
}

function collectScalars(value: unknown, source: string, into: Found<string>[]): void {
  if (isScalar(value)) into.push({ source, value: String(value) });
  else if (Array.isArray(value)) {
    value.forEach((item, i) => {
      collectScalars(item, `${source}[${i}]`, into);
    });
  } else if (value !== null && value !== undefined) into.push({ source, value: JSON.stringify(value) });
}

/**
 * The values at a declared dot path. A segment matches keys equal to it in any letter case (as the well-known
 * keys do); on an array, a numeric segment indexes it and any other segment applies to every element.
 */
export function resolvePath(params: unknown, path: string): Found<unknown>[] {
  let current: Found<unknown>[] = [{ source: "", value: params }];
  for (const segment of path.split(".").filter(Boolean)) {
    const next: Found<unknown>[] = [];
    for (const { source, value } of current) next.push(...step(value, segment, source));
    current = next;
  }
  return current.filter((hit) => hit.source !== "" && hit.value !== undefined);
}

function step(value: unknown, segment: string, source: string): Found<unknown>[] {
  const join = (key: string) => (source ? `${source}.${key}` : key);
  if (Array.isArray(value)) {
    if (/^\d+$/u.test(segment)) return [{ source: `${source}[${segment}]`, value: value[Number(segment)] }];
    return value.flatMap((item, i) => step(item, segment, `${source}[${i}]`));
  }
  if (!isObject(value)) return [];
  const wanted = foldKey(segment);
  return Object.keys(value)
    .filter((key) => key === segment || foldKey(key) === wanted)
    .map((key) => ({ source: join(key), value: value[key] }));
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;
const isScalar = (value: unknown): value is string | number | boolean | bigint =>
  typeof value === "string" || typeof value === "number" || typeof value === "boolean" || typeof value === "bigint";
