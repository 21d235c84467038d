// ONE normalisation of the values policy lists compare (recipients, counterparties, patterns). Every comparison
// in src/core/policy runs on what this module returns, never on raw text, so an attacker's encoding of a value
// (case, full-width forms, a trailing dot, an IDN domain, padding) compares equal to its plain form, and a value
// that could be read as something else (several recipients in one string, mixed scripts) is split or refused.
//
//   text:   NFKC → lower case (after NFKC, so full-width and compatibility forms fold too) → trim → no trailing dots
//   split:  `,` `;` `<` `>` `"` `'` `(` `)`, any whitespace, any control character (NUL, newlines) separate values
//   refuse: invisible format characters (zero-width, bidi controls), letters of more than one script,
//           more than one `@`, an empty part around `@`, a domain IDNA cannot encode
//   domain: the part after `@` (or a whole value without `@` that is not ASCII) goes through IDNA (`domainToASCII`)
import { domainToASCII } from "node:url";

/** One value as the policy compares it, or why it cannot be compared. */
export type Normalized = { ok: true; value: string } | { ok: false; raw: string; reason: string };

// Everything that may separate two recipients in one string. Control characters include NUL, \r, \n, \t.
const SEPARATORS = /[\s,;<>"'()\p{Cc}\u2028\u2029]+/u;
// Zero-width and bidi characters: invisible, so a value carrying them is not what an operator reads.
const INVISIBLE = /\p{Cf}/u;
const SCRIPTED_LETTER = /\p{L}/gu;
const SCRIPTS = ["Latin", "Cyrillic", "Greek", "Armenian", "Hebrew", "Arabic", "Han", "Hiragana", "Katakana", "Hangul"];
const SCRIPT_PATTERNS = SCRIPTS.map((name) => ({ name, re: new RegExp(`\\p{Script=${name}}`, "u") }));

/** NFKC, lower case, trimmed, without trailing dots. No splitting, no refusal: the common text form. */
export function foldText(raw: string): string {
  return withoutTrailingDots(raw.normalize("NFKC").toLowerCase().normalize("NFKC").trim());
}

/** The comparable forms of one raw value: each part it may hide, and all parts joined by one space. */
export interface NormalizedValue {
  raw: string;
  /** The folded parts joined by a single space: lets a list entry name a multi-word value (`acme corp`). */
  whole: string;
  parts: Normalized[];
}

export function normalizeValue(raw: string): NormalizedValue {
  const folded = splitValues(raw);
  return { raw, whole: folded.join(" "), parts: folded.map((part) => normalizeOne(part, raw)) };
}

// A loop, not /\.+$/: that regex is quadratic on a long run of dots followed by something else.
function withoutTrailingDots(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2e) end--;
  return text.slice(0, end);
}

/**
 * Splits a raw value into the recipients it may hide. Each part is folded; empty parts vanish. The split runs
 * on the NFKC form, so a full-width comma (U+FF0C) separates as a comma does.
 */
export function splitValues(raw: string): string[] {
  return raw
    .normalize("NFKC")
    .split(SEPARATORS)
    .map(foldText)
    .filter((part) => part.length > 0);
}

/** Every recipient hidden in `raw`, each normalised or refused. An empty or blank value yields nothing. */
export function normalizeRecipients(raw: string): Normalized[] {
  return splitValues(raw).map((part) => normalizeOne(part, raw));
}

/** A single folded part (no separators left) in its comparable form, or the reason it is refused. */
function normalizeOne(part: string, raw: string): Normalized {
  const refuse = (reason: string): Normalized => ({ ok: false, raw, reason });
  if (INVISIBLE.test(part)) return refuse("contains invisible formatting characters");
  const scripts = scriptsOf(part);
  if (scripts.length > 1) return refuse(`mixes scripts (${scripts.join(", ")}), a look-alike of another value`);
  if (scripts.length === 1 && scripts[0] !== "Latin" && onlyLatinLookAlikes(part))
    return refuse(`is written only in ${scripts[0]} letters that look like Latin ones, a look-alike of another value`);

  const at = part.split("@");
  if (at.length > 2) return refuse("contains more than one '@'");
  if (at.length === 2) {
    const [local = "", domain = ""] = at;
    const ascii = toAsciiDomain(domain);
    if (!local || !ascii) return refuse("is not a well-formed address");
    return { ok: true, value: `${local}@${ascii}` };
  }
  if (isAscii(part)) return { ok: true, value: part };
  // A non-ASCII value without '@' is compared in its IDNA form when it is a domain; else as folded text.
  return { ok: true, value: toAsciiDomain(part) || part };
}

/** IDNA form of a folded domain ('' when IDNA cannot encode it). ASCII domains are already folded. */
export function toAsciiDomain(domain: string): string {
  if (domain === "") return "";
  if (isAscii(domain)) return domain;
  return withoutTrailingDots(domainToASCII(domain));
}

/** The scripts of the letters in `text` (Common/Inherited characters such as digits and `-` count as none). */
export function scriptsOf(text: string): string[] {
  const found = new Set<string>();
  for (const letter of text.match(SCRIPTED_LETTER) ?? []) {
    const script = SCRIPT_PATTERNS.find((s) => s.re.test(letter))?.name ?? "Other";
    found.add(script);
  }
  // Japanese mixes Han with kana legitimately; that alone is not a look-alike.
  const japanese = ["Han", "Hiragana", "Katakana"];
  if ([...found].every((s) => japanese.includes(s))) return found.size > 0 ? ["Han"] : [];
  return [...found].sort();
}

// Lower-case Cyrillic and Greek letters that read as Latin ones (after folding, upper case is gone). A value
// made only of these (`хасо.сом`) is a whole-script look-alike of a Latin value; real words in those scripts
// almost always contain other letters.
const LATIN_LOOK_ALIKES = new Set([..."аβвеєѕіјкмнорстуухһԁԛԝӏαγεικνορτυχω"]);

function onlyLatinLookAlikes(text: string): boolean {
  const letters = text.match(SCRIPTED_LETTER) ?? [];
  return letters.length > 0 && letters.every((letter) => LATIN_LOOK_ALIKES.has(letter));
}

const isAscii = (text: string) => /^[\x20-\x7e]*$/u.test(text);
