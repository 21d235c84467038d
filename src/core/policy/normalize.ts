// ONE normalisation of the values policy lists compare (recipients, counterparties, patterns). Every comparison
// in src/core/policy runs on what this module returns, never on raw text, so an attacker's encoding of a value
// (case, full-width forms, a trailing dot, an IDN domain, padding) compares equal to its plain form, and a value
// that could be read as something else (several recipients in one string, mixed scripts) is split or refused.
//
//   text:   NFKC → lower case (after NFKC, so full-width and compatibility forms fold too) → trim → no trailing dots
//   split:  `,` `;` `<` `>` `"` `'` `(` `)`, any whitespace, any control character (NUL, newlines) separate values
//   refuse: invisible format characters (zero-width, bidi controls), letters of more than one script,
//           more than one `@`, an empty part around `@`, a domain IDNA cannot encode or that is not a host name
//           (`:25`, `[10.0.0.1]`), a routing local part (`user%evil.com@`, `mailto:`), a percent-escape (`%40`:
//           a system that decodes it reads another recipient), a domain spelled with ß or ς (IDNA2003 and the
//           systems still on it read `straße.de` as strasse.de, IDNA2008 as xn--strae-oqa.de: two domains)
//   domain: the part after `@` (or a whole value without `@` that is not ASCII) goes through IDNA (`domainToASCII`)
import { domainToASCII } from "node:url";

/** One value as the policy compares it, or why it cannot be compared. */
export type Normalized = { ok: true; value: string } | { ok: false; raw: string; reason: string };

// Everything that may separate two recipients in one string. Control characters include NUL, \r, \n, \t.
const SEPARATORS = /[\s,;<>"'()\p{Cc}\u2028\u2029]+/u;
// Zero-width and bidi characters: invisible, so a value carrying them is not what an operator reads. And every other
// default-ignorable one, which a renderer draws as nothing: the combining grapheme joiner U+034F (a mark, not Cf),
// the Hangul fillers, variation selectors (`E\u034fvil Corp` reads as Evil Corp and passed a blocklist of it).
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;
const SCRIPTED_LETTER = /\p{L}/gu;
const SCRIPTS = ["Latin", "Cyrillic", "Greek", "Armenian", "Hebrew", "Arabic", "Han", "Hiragana", "Katakana", "Hangul"];
const SCRIPT_PATTERNS = SCRIPTS.map((name) => ({ name, re: new RegExp(`\\p{Script=${name}}`, "u") }));

/** NFKC, lower case, trimmed, without trailing dots. No splitting, no refusal: the common text form. */
export function foldText(raw: string): string {
  return withoutTrailingDots(nfkc(nfkc(raw).toLowerCase()).trim());
}

// Printable ASCII (U+0020–U+007E), what nearly every recipient, key and list entry is written in. NFKC maps each of
// these characters to itself (so `nfkc` skips it), none is an invisible format character, and the only letters
// among them are Latin: the look-alike analysis of `normalizeOne` cannot refuse such a part and is skipped too.
// Both were most of a decision's normalisation cost (./ascii-fast-paths.test.ts holds these reasons over all of ASCII).
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/u;
const isAscii = (text: string) => PRINTABLE_ASCII.test(text);

/** `text.normalize("NFKC")`, without the call on printable ASCII (which it leaves unchanged). */
const nfkc = (text: string) => (isAscii(text) ? text : text.normalize("NFKC"));

/** The comparable forms of one raw value: each part it may hide, and all parts joined by one space. */
export interface NormalizedValue {
  raw: string;
  /** The folded parts joined by a single space: lets a list entry name a multi-word value (`acme corp`). */
  whole: string;
  parts: Normalized[];
}

export function normalizeValue(raw: string): NormalizedValue {
  const folded = splitValues(raw);
  return { raw, whole: folded.join(" "), parts: normalizeParts(folded, raw) };
}

// A loop, not /\.+$/: that regex is quadratic on a long run of dots followed by something else.
function withoutTrailingDots(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2e) end--;
  return text.slice(0, end);
}

// What joins the words of a NAME where a space would: `Evil_Corp`, `EVIL_CORP*ORDER 12` (a statement descriptor),
// `Evil/Corp`, `Evil+Corp`, `Evil:Corp`, `Evil~Corp`, `Evil·Corp` are Evil Corp to the person who pays them. Not
// SEPARATORS: in an address (`john_doe+tag@acme.com`) or a domain these characters are part of one recipient, and
// `*` is a pattern's wildcard. So they are read as spaces only in a second reading of a name (nameWordsOf), for
// the blocklist, in each word that holds no `@` nor `.` (an address, a domain keeps its meaning).
const NAME_JOINER = /[_/+*:~|\\\u00b7\u2022\u2027\u30fb]/u;
const NAME_JOINERS = /[_/+*:~|\\\u00b7\u2022\u2027\u30fb]+/gu;
const WORDS_AND_SPACES = /(\s+)/u;

/** `raw` with the characters that join a name's words read as spaces, or undefined when it holds none of them. */
export function nameWordsOf(raw: string): string | undefined {
  const text = nfkc(raw);
  if (!NAME_JOINER.test(text)) return undefined;
  let words = "";
  for (const word of text.split(WORDS_AND_SPACES))
    words += word.includes("@") || word.includes(".") ? word : word.replace(NAME_JOINERS, " ");
  return words === text ? undefined : words;
}

/**
 * Splits a raw value into the recipients it may hide. Each part is folded; empty parts vanish. The split runs
 * on the NFKC form, so a full-width comma (U+FF0C) separates as a comma does.
 */
export function splitValues(raw: string): string[] {
  // Loops rather than map/filter: this runs on every recipient of every decision.
  const parts: string[] = [];
  for (const piece of nfkc(raw).split(SEPARATORS)) {
    const part = foldText(piece);
    if (part.length > 0) parts.push(part);
  }
  return parts;
}

/** Every recipient hidden in `raw`, each normalised or refused. An empty or blank value yields nothing. */
export function normalizeRecipients(raw: string): Normalized[] {
  return normalizeParts(splitValues(raw), raw);
}

function normalizeParts(folded: readonly string[], raw: string): Normalized[] {
  const parts: Normalized[] = [];
  for (const part of folded) parts.push(normalizeOne(part, raw));
  return parts;
}

/** A single folded part (no separators left) in its comparable form, or the reason it is refused. */
function normalizeOne(part: string, raw: string): Normalized {
  const ascii = isAscii(part);
  const lookAlike = ascii ? undefined : whyLookAlike(part);
  if (lookAlike) return refused(raw, lookAlike);
  if (part.includes("%") && PERCENT_ESCAPE.test(part))
    return refused(raw, "holds a percent-escape (%XX), which a receiving system may decode into another recipient");

  // indexOf rather than split("@"): the same three cases (no '@', one, several) without an array per part.
  const at = part.indexOf("@");
  if (at >= 0 && part.indexOf("@", at + 1) >= 0) return refused(raw, "contains more than one '@'");
  if (at >= 0) {
    const local = part.slice(0, at);
    const written = part.slice(at + 1);
    if (!ascii && IDNA_DEVIATION.test(written)) return refused(raw, DEVIATION_REASON);
    const domain = toAsciiDomain(written);
    if (!local || !domain) return refused(raw, "is not a well-formed address");
    if (ROUTED_LOCAL.test(local))
      return refused(
        raw,
        "has a local part holding '%', '!', ':' or a bracket, which mail systems may route elsewhere",
      );
    if (!HOST_NAME.test(domain))
      return refused(raw, "has a domain that is not a host name (a port, an address literal or a path)");
    return { ok: true, value: `${local}@${domain}` };
  }
  if (ascii) return { ok: true, value: part };
  // A non-ASCII value without '@' is compared in its IDNA form when it is a domain; else as folded text.
  const domain = toAsciiDomain(part);
  if (domain && IDNA_DEVIATION.test(part)) return refused(raw, DEVIATION_REASON);
  return { ok: true, value: domain || part };
}

const PERCENT_ESCAPE = /%[0-9a-f]{2}/iu;
// Local parts that name a route rather than a mailbox: `user%evil.com@acme.com` and `evil.com!user@acme.com` are
// relayed to evil.com by mail systems that still honour them, `mailto:ceo@acme.com` is a URI, not an address, and a
// bracket or backslash is quoting a matcher does not read. Patterns such as `*@acme.com` would match all of them.
const ROUTED_LOCAL = /[%!:[\]\\]/u;
// A domain after IDNA: dot-separated labels of letters, digits, `-` and `_`. Not `acme.com:25` (a port),
// `[10.0.0.1]` (an address literal) or `acme.com/x`, which a pattern for the host would not match as its author
// meant (a blocklist entry `*@evil.com` misses `x@evil.com:25`, though mail to it reaches evil.com).
const HOST_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/u;
// The IDNA "deviation" letters that are still letters after folding (ZWJ/ZWNJ are refused as invisible): IDNA2003
// (transitional) maps them to `ss` and `σ`, IDNA2008 keeps them. Which domain the mail is delivered to then depends
// on the sender's library, so the policy cannot know what it judges.
const IDNA_DEVIATION = /[\u00df\u03c2]/u;
const DEVIATION_REASON =
  "has a domain spelled with ß or ς, which IDNA2003 and IDNA2008 encode as two different domains";

const refused = (raw: string, reason: string): Normalized => ({ ok: false, raw, reason });

/** Why a (non-ASCII) folded part reads as something else: invisible characters or look-alike letters. */
function whyLookAlike(part: string): string | undefined {
  if (INVISIBLE.test(part)) return "contains invisible formatting characters";
  const scripts = scriptsOf(part);
  if (scripts.length > 1) return `mixes scripts (${scripts.join(", ")}), a look-alike of another value`;
  if (scripts.length === 1 && scripts[0] !== "Latin" && onlyLatinLookAlikes(part))
    return `is written only in ${scripts[0]} letters that look like Latin ones, a look-alike of another value`;
  return undefined;
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
  if ([...found].every((s) => JAPANESE.has(s))) return found.size > 0 ? ["Han"] : [];
  return [...found].sort();
}

const JAPANESE = new Set(["Han", "Hiragana", "Katakana"]);

// Lower-case Cyrillic and Greek letters that read as Latin ones (after folding, upper case is gone). A value
// made only of these (`хасо.сом`) is a whole-script look-alike of a Latin value; real words in those scripts
// almost always contain other letters.
const LATIN_LOOK_ALIKES = new Set([..."аβвеєѕіјкмнорстуухһԁԛԝӏαγεικνορτυχω"]);

function onlyLatinLookAlikes(text: string): boolean {
  const letters = text.match(SCRIPTED_LETTER) ?? [];
  return letters.length > 0 && letters.every((letter) => LATIN_LOOK_ALIKES.has(letter));
}
