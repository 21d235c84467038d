// A person's name split over an object's members: `first_name` + `last_name`, PayPal's `given_name` + `surname`,
// `firstName` / `middleName` / `lastName`, and the flat forms with a prefix that says whose (`recipient_first_name` +
// `recipient_last_name`). Read member by member, John and Smith each name no one a blocklist lists: a blocklist of
// `John Smith` is there to stop a payment to `payee: {first_name: "John", last_name: "Smith"}`. The joined name is
// a name (judged by a counterparty blocklist alone), in the order a form reads it and in the family-first order a
// statement or a sanctions list often writes it (`SMITH JOHN`), and without the middle name (`John A Smith` is the
// John Smith a list names). Inside an object that is a name (`name: {first: "John", last: "Smith"}`, the shape of
// many payment and CRM APIs), the bare members `first` / `middle` / `last` / `given` / `family` are parts too.
import { clipped } from "./clip";
import { foldKey } from "./fold-key";

type Role = "given" | "middle" | "family";

/** A name part's key, folded (../fold-key.ts): the prefix that says whose, and which part of the name it holds. */
const NAME_PART = /^(.*?)(first|given|fore|middle|last|family|sur)names?$/u;
/** A bare member of a name object (`first`, `last`…): a part of the name only there (`BARE`, see joinedPersonNames). */
const BARE_PART = /^(first|given|middle|last|family)$/u;
const BARE = "\u0000bare";
const isNameKey = (folded: string) => folded.endsWith("name") || folded.endsWith("names");
const ROLE_OF: Record<string, Role> = {
  first: "given",
  given: "given",
  fore: "given",
  middle: "middle",
  last: "family",
  family: "family",
  sur: "family",
};

/** The parts of the names an object spells in pieces, by prefix (`""` for `first_name`, `recipient` for its forms). */
export type NameParts = Map<string, Partial<Record<Role, { key: string; value: string }>>>;

/**
 * Notes `key` (folded: `folded`) when it holds a part of a person's name as a non-blank string; returns the parts
 * (created on the first one: most objects hold none, and this is asked of every key the policy walks).
 */
export function notePersonNamePart(
  parts: NameParts | undefined,
  key: string,
  folded: string,
  value: unknown,
): NameParts | undefined {
  if (typeof value !== "string" || value.trim() === "") return parts;
  const match = isNameKey(folded) ? NAME_PART.exec(folded) : BARE_PART.exec(folded);
  if (!match) return parts;
  const [, prefix = "", word = ""] = match.length === 2 ? [folded, BARE, match[1]] : match;
  const found = parts ?? new Map();
  const person = found.get(prefix) ?? {};
  person[ROLE_OF[word] as Role] ??= { key, value: value.trim() };
  found.set(prefix, person);
  return found;
}

/**
 * Each person whose given and family names were both found, as names found at `source`: in the order a form reads
 * them, without the middle name, and family name first. The bare members (`first`, `last`) only when `source` is a
 * name object (`payee.name`, `names[0]`): elsewhere `first` and `last` are a range, a page, a cursor.
 */
export function joinedPersonNames(parts: NameParts, source: string): { source: string; value: string }[] {
  const names: { source: string; value: string }[] = [];
  for (const [prefix, { given, middle, family }] of parts) {
    if (!given || !family || (prefix === BARE && !isNameObject(source))) continue;
    const keys = [given, middle, family].flatMap((part) => (part ? [clipped(part.key)] : []));
    const at = `${source}.{${keys.join(" + ")}}`;
    const values = middle ? [`${given.value} ${middle.value} ${family.value}`] : [];
    for (const value of [...values, `${given.value} ${family.value}`, `${family.value} ${given.value}`])
      names.push({ source: at, value });
  }
  return names;
}

/** Whether the object found at `source` is named a name by its key (`payee.name`, `legal_name`, `names[0]`). */
function isNameObject(source: string): boolean {
  const key = source.slice(source.lastIndexOf(".") + 1).replace(/(?:\[\d+\])+$/u, "");
  return isNameKey(foldKey(key));
}
