// counterparty_check: the token's `allowed_recipients`, the manifest's counterparty allow/block lists and
// NEW_COUNTERPARTY escalation, applied to EVERY recipient the connector will receive (../extract.ts) and the
// declared `action.counterparty` (the blocklist to the display names beside the mailboxes too), each normalised
// (../normalize.ts) and matched with the one pattern grammar (../pattern.ts). Fails closed: under any of these
// rules, an action with no recipient to check, with params too large to read completely, or with a value that is
// refused (mixed scripts, invisible characters, several `@`) is a DENY `COUNTERPARTY_BLOCKED` whose message says
// which.
import { logger } from "../../log/logger";
import { clipped } from "../clip";
import type { ActionFacts } from "../extract";
import { entryWithoutLegalForms, withoutLegalForms } from "../legal-forms";
import { perList } from "../list-cache";
import { checkPatterns, type ManifestProblem } from "../manifest-validation";
import { latinSkeleton } from "../name-skeleton";
import { type NormalizedValue, nameWordsOf, normalizeValue } from "../normalize";
import {
  allPartsMatch,
  anyPartMatches,
  blockedInAnotherForm,
  blocklistForms,
  leadingWordsBlocked,
  type PatternList,
  patternList,
} from "../pattern";
import {
  type CheckOutcome,
  type CheckView,
  defineCheck,
  deny,
  escalate,
  type PolicyDeps,
  pass,
  skip,
  whenReady,
} from "../policy-check";
import type { ManifestPolicy } from "../types";

const log = logger.child({ module: "policy" });

interface Recipient extends NormalizedValue {
  source: string;
  /** A statement descriptor's name (../extract.ts FoundName): its leading words are judged too. */
  descriptor?: true;
}

export const counterpartyCheck = defineCheck({
  name: "counterparty_check",
  needs: ["manifest", "actionFacts"],
  reads: ["token"],
  provides: ["counterparties", "refusedRecipients"],
  run(input, deps) {
    const recipients = recipientsOf(input.actionFacts);
    const counterparties = counterpartiesOf(recipients);
    const refused = refusedOf(recipients);
    // Only the NEW_COUNTERPARTY lookups may wait on a store: any other outcome is returned as it is, so the
    // pipeline does not wait a turn for it.
    return whenReady(judge(input, deps, recipients, counterparties), (outcome) =>
      withCounterparties(outcome, counterparties, refused),
    );
  },
});

/** Every outcome carries the counterparties. The outcome was just built by `judge`: it takes them in place. */
function withCounterparties(
  outcome: CheckOutcome,
  counterparties: string[],
  refusedRecipients: string[],
): CheckOutcome<"counterparties" | "refusedRecipients"> {
  const withFacts: CheckOutcome<"counterparties" | "refusedRecipients"> = outcome;
  withFacts.facts = refusedRecipients.length > 0 ? { counterparties, refusedRecipients } : { counterparties };
  return withFacts;
}

type Input = CheckView<"manifest" | "actionFacts", "token">;

function judge(
  input: Input,
  deps: PolicyDeps,
  recipients: Recipient[],
  counterparties: string[],
): CheckOutcome | Promise<CheckOutcome> {
  const policy = input.manifest.policy ?? {};
  const allowedRecipients = input.token?.constraints?.allowed_recipients;
  const listRules = policy.counterparty_allowlist !== undefined || policy.counterparty_blocklist !== undefined;
  const anyRule = allowedRecipients !== undefined || listRules || policy.escalate_new_counterparties === true;
  if (!anyRule) return skip();

  const refused = refusedListEntries(policy);
  if (refused.length > 0) {
    // Pointers only: the agent reads this reason, and a list's entries are the operator's, not the agent's.
    const pointers = refused.map((r) => r.pointer);
    return blocked(
      `Manifest '${input.request.uapk_id}' cannot be enforced: its counterparty lists hold ${named(pointers)}, entries registration refuses (blank, or holding a separator); re-register it without them`,
      listed("refused_entries", pointers),
    );
  }

  const unreadable = whyUnreadable(input.actionFacts, recipients);
  if (unreadable) return blocked(`Recipients cannot be checked: ${unreadable.message}`, unreadable.details);

  if (allowedRecipients) {
    // Each list compiled once per decision, not once per recipient (a token's list, a replay's candidate
    // manifest are not frozen, so ./list-cache.ts does not keep them).
    const allowed = patternList(allowedRecipients);
    const outside = recipients.filter((r) => !allPartsMatch(r, allowed));
    if (outside.length > 0)
      return blocked(`Recipient ${describe(outside)} is not allowed by the capability token`, detailsOf(outside));
  }
  if (policy.counterparty_blocklist) {
    const blocklist = patternList(policy.counterparty_blocklist);
    const forms = blocklistNameForms(policy.counterparty_blocklist);
    // The names too (display names beside the mailboxes, a merchant's or a vendor's name: no recipients, no other
    // rule judges them), each also as a reader of Latin letters sees it (../name-skeleton.ts): a merchant may be
    // named by nothing else, and `Еvil Corp` with a Cyrillic `Е` is Evil Corp to the person who pays it.
    const names = displayNamesOf(input.actionFacts);
    const hit = [...recipients, ...names].filter((r) => isBlocked(r, blocklist, forms));
    if (hit.length > 0) return blocked(`Counterparty ${describe(hit)} is on the blocklist`, detailsOf(hit));
  }
  if (policy.counterparty_allowlist) {
    const allowlist = patternList(policy.counterparty_allowlist);
    const outside = recipients.filter((r) => !allPartsMatch(r, allowlist));
    if (outside.length > 0)
      return blocked(`Counterparty ${describe(outside)} is not on the allowlist`, detailsOf(outside));
  }
  if (policy.escalate_new_counterparties) return escalateUnknown(input, deps, counterparties);
  return pass(
    listed(
      "counterparties",
      counterparties.map((c) => clipped(c)),
    ),
  );
}

async function escalateUnknown(input: Input, deps: PolicyDeps, counterparties: string[]): Promise<CheckOutcome> {
  const unknown = await unknownOf(input, deps, counterparties);
  if (unknown.length > 0)
    return escalate(
      [{ code: "NEW_COUNTERPARTY", message: `First interaction with counterparty ${named(unknown.map(quote))}` }],
      listed(
        "counterparties",
        unknown.map((c) => clipped(c)),
      ),
    );
  return pass(
    listed(
      "counterparties",
      counterparties.map((c) => clipped(c)),
    ),
  );
}

/** The counterparties the agent has not dealt with yet, in order: in one batched question when the store has one. */
async function unknownOf(input: Input, deps: PolicyDeps, counterparties: string[]): Promise<string[]> {
  const { orgId } = input;
  const uapkId = input.request.uapk_id;
  const store = deps.counterparties;
  if (store.unknownAmong) return store.unknownAmong(orgId, uapkId, counterparties);
  const unknown: string[] = [];
  for (const c of counterparties) if (!(await store.isKnown(orgId, uapkId, c))) unknown.push(c);
  return unknown;
}

const LISTS = ["counterparty_allowlist", "counterparty_blocklist"] as const;

/**
 * Entries of the manifest's counterparty lists that registration refuses (blank, or holding a separator:
 * ../manifest-validation.ts checkPatterns). Only a manifest stored before that refusal can hold one. Such an entry
 * names no recipient, so the list cannot be applied as its author meant it — a blank blocklist entry is typically a
 * template variable that came out empty, and whatever it was to block would go through. Fail closed: the manifest's
 * actions are denied with the entries named until it is re-registered. Found once per loaded list (./list-cache.ts)
 * and logged then.
 */
function refusedListEntries(policy: ManifestPolicy): ManifestProblem[] {
  return LISTS.flatMap((name) => {
    const list = policy[name];
    return list ? refusedEntriesOf(list).map((p) => ({ ...p, pointer: `/policy/${name}${p.pointer}` })) : [];
  });
}

const refusedEntriesOf = perList((list) => {
  const problems: ManifestProblem[] = [];
  checkPatterns(list, "", (pointer, message) => problems.push({ pointer, message }));
  if (problems.length > 0)
    log.warn(
      { problems },
      "a stored manifest's counterparty list holds entries registration refuses: its actions are denied",
    );
  return problems;
});

/**
 * The blocklist's other forms (../pattern.ts blocklistForms), with each entry's forms without its legal forms too
 * (../legal-forms.ts entryWithoutLegalForms: the entry `Evil Corp Ltd` hits `Evil Corp`, `Evil Corp GmbH`). Those
 * are compared in compact form only, so to a whole name or a descriptor's leading words: never to one word of a name
 * (`Acme Ltd` is not every `Acme Bank`). Once per frozen list.
 */
const blocklistNameForms = perList((list) =>
  blocklistForms(Object.freeze([...list, ...list.flatMap(entryWithoutLegalForms)])),
);

/** A recipient or a name the blocklist hits: whole, by a part, in another form, or by a descriptor's leading words. */
const isBlocked = (r: Recipient, blocklist: PatternList, forms: PatternList) =>
  anyPartMatches(r, blocklist) ||
  blockedInAnotherForm(r, forms) ||
  (r.descriptor === true && leadingWordsBlocked(r, blocklist, forms));

function recipientsOf(facts: ActionFacts): Recipient[] {
  const recipients: Recipient[] = [];
  for (const found of facts.recipients) {
    const { raw, whole, parts } = normalizeValue(found.value);
    recipients.push({ source: found.source, raw, whole, parts });
  }
  return recipients;
}

/**
 * The names (../extract.ts `names`: display names, the parties' names), normalised as recipients are, and each whose
 * Latin skeleton reads otherwise once more as that skeleton; each also without its legal form (../legal-forms.ts:
 * `Evil Corp Ltd` is Evil Corp), and so is each recipient (`payee: "Evil Corp, Inc."`), for the blocklist alone. Each
 * is read once more with the characters that join its words read as spaces (`Evil_Corp`, `EVIL_CORP*ORDER 12`:
 * ../normalize.ts nameWordsOf), an address or a domain in it as written.
 */
function displayNamesOf(facts: ActionFacts): Recipient[] {
  const names: Recipient[] = [];
  for (const found of facts.names) {
    const descriptor = found.descriptor ? { descriptor: true as const } : {};
    for (const read of readingsOf(found.value))
      for (const value of [read, ...withoutLegalForms(read)]) pushAsRead(names, found.source, value, descriptor);
  }
  for (const found of facts.recipients) {
    // A payee's name as a reader of Latin letters sees it (`Evıl Corp`, a Turkish dotless ı), as a merchant's is.
    const skeleton = latinSkeleton(found.value);
    if (skeleton !== found.value.toLowerCase()) names.push({ source: found.source, ...normalizeValue(skeleton) });
    const readings = readingsOf(found.value);
    if (readings[1] !== undefined) pushAsRead(names, found.source, readings[1], {});
    for (const read of readings)
      for (const value of withoutLegalForms(read)) pushAsRead(names, found.source, value, {});
  }
  return names;
}

/** A name as written, and with `_` `/` `+` `*` `:` `·`… between its words read as spaces (`Evil_Corp`) when it has them. */
function readingsOf(value: string): [string] | [string, string] {
  const words = nameWordsOf(value);
  return words === undefined ? [value] : [value, words];
}

/** `value` as normalised, and as its Latin skeleton when that reads otherwise (`Еvil Corp`, Cyrillic `Е`). */
function pushAsRead(names: Recipient[], source: string, value: string, descriptor: { descriptor?: true }): void {
  const name = { source, ...normalizeValue(value), ...descriptor };
  names.push(name);
  const skeleton = latinSkeleton(value);
  if (skeleton !== name.whole) names.push({ source, ...normalizeValue(skeleton), ...descriptor });
}

/**
 * The counterparties the recipients name, each once, in order of appearance (loops: this runs on every decision). A
 * value listing addresses names each of them; any other value of several parts (`John Smith`, an IBAN in groups
 * `DE89 3704 …`) is ONE counterparty, known only as a whole: were its words counterparties of their own, `John Doe`
 * would pass as known once `John Smith` and `Jane Doe` had been paid. (A whole is stored and looked up as such:
 * ../known-counterparties.ts normalizeCounterparty.)
 */
function counterpartiesOf(recipients: Recipient[]): string[] {
  const values = new Set<string>();
  for (const r of recipients) {
    if (r.parts.length > 1 && !r.parts.every(isAddress)) values.add(r.whole);
    else for (const part of r.parts) if (part.ok) values.add(part.value);
  }
  return [...values];
}

/**
 * The recipients a rule would refuse, each once, as an operator must read them: escaped (a zero-width space or a
 * bidi override shown as `\u{200b}`) and marked with why, so a look-alike (`alice@аcme.com`, Cyrillic а) is not
 * taken for the address it imitates. Left out of the approval's picture, they were recipients nobody saw.
 */
function refusedOf(recipients: Recipient[]): string[] {
  const values = new Set<string>();
  for (const r of recipients)
    for (const part of r.parts) if (!part.ok) values.add(`${clipped(r.raw)} (refused: ${part.reason})`);
  return [...values];
}

const isAddress = (part: Recipient["parts"][number]) => part.ok && part.value.includes("@");

/** Why the rules cannot be applied to these recipients (then the action is denied), or undefined. */
function whyUnreadable(
  facts: ActionFacts,
  recipients: Recipient[],
): { message: string; details?: Record<string, unknown> } | undefined {
  if (facts.incomplete) return { message: facts.incomplete };
  if (recipients.every((r) => r.parts.length === 0))
    return { message: "the action names no recipient (no counterparty, no recipient param)" };
  for (const r of recipients)
    for (const part of r.parts)
      if (!part.ok)
        return { message: `${r.source} ${part.reason}`, details: { source: r.source, refused: part.reason } };
  return undefined;
}

const blocked = (message: string, details?: Record<string, unknown>) => deny("COUNTERPARTY_BLOCKED", message, details);

// Messages name values by their normalised form: never echo raw control characters into reasons or logs.
function describe(recipients: Recipient[]): string {
  return named(recipients.map((r) => `'${clipped(r.whole)}' (${r.source})`));
}

function detailsOf(recipients: Recipient[]): Record<string, unknown> {
  return listed(
    "recipients",
    recipients.map((r) => ({ source: r.source, value: clipped(r.whole) })),
  );
}

// Reasons and trace details are stored in the signed audit record, the approval and every answer: they name at
// most NAMED values and count the rest. Naming all of them let one action with 10,000 recipients write a 0.5 MB
// record (its params are bounded; these lists were not).
const NAMED = 10;
const quote = (value: string) => `'${clipped(value)}'`;

/** Up to NAMED items joined, and how many more there are. */
function named(items: string[]): string {
  const shown = items.slice(0, NAMED).join(", ");
  return items.length > NAMED ? `${shown} and ${items.length - NAMED} more` : shown;
}

/** `{[key]: the first NAMED items}`, with `${key}_count` when there are more. */
function listed(key: string, items: unknown[]): Record<string, unknown> {
  return items.length > NAMED ? { [key]: items.slice(0, NAMED), [`${key}_count`]: items.length } : { [key]: items };
}
