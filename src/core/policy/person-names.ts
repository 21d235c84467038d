// A person's name split over an object's members: `first_name` + `last_name`, PayPal's `given_name` + `surname`,
// `firstName` / `middleName` / `lastName`, and the flat forms with a prefix that says whose (`recipient_first_name` +
// `recipient_last_name`). Read member by member, John and Smith each name no one a blocklist lists: a blocklist of
// `John Smith` is there to stop a payment to `payee: {first_name: "John", last_name: "Smith"}`. The joined name is
// a name (judged by a counterparty blocklist alone), in the order a form reads it and in the family-first order a
// statement or a sanctions list often writes it (`SMITH JOHN`).
import { clipped } from "./clip";

type Role = "given" | "middle" | "family";

/** A name part's key, folded (../fold-key.ts): the prefix that says whose, and which part of the name it holds. */
const NAME_PART = /^(.*?)(first|given|fore|middle|last|family|sur)names?$/u;
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
  if (typeof value !== "string" || value.trim() === "" || (!folded.endsWith("name") && !folded.endsWith("names")))
    return parts;
  const match = NAME_PART.exec(folded);
  if (!match) return parts;
  const [, prefix = "", word = ""] = match;
  const found = parts ?? new Map();
  const person = found.get(prefix) ?? {};
  person[ROLE_OF[word] as Role] ??= { key, value: value.trim() };
  found.set(prefix, person);
  return found;
}

/** Each person whose given and family names were both found, joined in both orders, as names found at `source`. */
export function joinedPersonNames(parts: NameParts, source: string): { source: string; value: string }[] {
  const names: { source: string; value: string }[] = [];
  for (const { given, middle, family } of parts.values()) {
    if (!given || !family) continue;
    const keys = [given, middle, family].flatMap((part) => (part ? [clipped(part.key)] : []));
    const at = `${source}.{${keys.join(" + ")}}`;
    names.push({ source: at, value: [given, middle, family].flatMap((p) => (p ? [p.value] : [])).join(" ") });
    names.push({ source: at, value: `${family.value} ${given.value}` });
  }
  return names;
}
