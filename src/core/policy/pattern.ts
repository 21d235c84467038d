// ONE pattern grammar for every policy list (counterparty allow/block lists, token `allowed_recipients`),
// documented in spec/orgs.tsp:
//
//   `*`  any run of characters (possibly none) that contains no `@` and no separator, and — outside the local part
//        of an address (before its `@`) — no `.`
//   `?`  exactly one such character
//   `**` as a whole label: one or more labels (`*@**.evil.com` matches `x@a.evil.com` and `x@a.b.evil.com`,
//        not `x@evil.com`): a blocklist can cover every subdomain, however deep
//   anything else is literal; pattern and value are compared in their normalised form (./normalize.ts), so
//   case, full-width forms, trailing dots, IDN domains and padding do not matter.
//
// `@`, `.` (except in a local part) and the separator (a space, the normal form of `,` `;` whitespace…) are
// delimiters: a pattern matches only a value with the same delimiters in the same order, segment by segment. So
// `*@acme.com` matches `ann@acme.com` and `john.doe@acme.com`, and nothing outside acme.com (`x@acme.com.evil.io`,
// `x@evil.io@acme.com`, `x@evil-acme.com`), and `*.acme.com` matches one label under acme.com. No regular expression
// is built from user text: a segment is matched by a two-pointer wildcard scan in O(|segment| × |pattern segment|).
import { perList } from "./list-cache";
import { foldText, type Normalized, type NormalizedValue, splitValues, toAsciiDomain } from "./normalize";

const DELIMITERS = new Set(["@", ".", " "]);

/** A list entry in the value's normal form: folded, separators as one space, literal IDN labels in IDNA form. */
export function normalizePattern(pattern: string): string {
  return splitValues(pattern)
    .map((part) => {
      const at = part.lastIndexOf("@");
      const domain = at >= 0 ? part.slice(at + 1) : part;
      if (/^[\x20-\x7e]*$/u.test(domain)) return part;
      const ascii = domain
        .split(".")
        .map((label) => (/[*?]/u.test(label) ? label : toAsciiDomain(label) || label))
        .join(".");
      return at >= 0 ? `${part.slice(0, at + 1)}${ascii}` : ascii;
    })
    .join(" ");
}

/** Whether a normalised value matches a normalised pattern (see the grammar above). */
export function matchesPattern(value: string, pattern: string): boolean {
  return matchesSegments(segments(value), segments(pattern));
}

/** A text cut at its delimiters: the segments between them, and the delimiters in order. */
interface Segments {
  parts: string[];
  delimiters: string;
}

function matchesSegments(v: Segments, p: Segments): boolean {
  if (p.parts.includes(DEEP)) return matchesFrom(v, p, 0, 0, new Map());
  if (v.delimiters !== p.delimiters) return false;
  return p.parts.every((part, i) => matchesSegment(v.parts[i] ?? "", part));
}

/** The whole-label wildcard: one or more labels, joined by dots. */
const DEEP = "**";

/**
 * Value parts from `i` on against pattern parts from `j` on, for a pattern holding `**`: a `**` part takes one or
 * more value parts joined by `.`. Memoised on (i, j), so O(value parts × pattern parts), whatever the value.
 */
function matchesFrom(v: Segments, p: Segments, i: number, j: number, memo: Map<number, boolean>): boolean {
  const key = i * (p.parts.length + 1) + j;
  const known = memo.get(key);
  if (known !== undefined) return known;
  let matched = false;
  const lastPattern = j === p.parts.length - 1;
  // After pattern part j (ending at value part end - 1): the rest must follow with the same delimiter.
  const follows = (end: number) =>
    lastPattern
      ? end === v.parts.length
      : end < v.parts.length && v.delimiters[end - 1] === p.delimiters[j] && matchesFrom(v, p, end, j + 1, memo);
  if (p.parts[j] === DEEP) {
    for (let end = i + 1; end <= v.parts.length && !matched; end++) {
      if (end > i + 1 && v.delimiters[end - 2] !== ".") break; // the labels it takes are joined by dots only
      matched = follows(end);
    }
  } else {
    matched = i < v.parts.length && matchesSegment(v.parts[i] ?? "", p.parts[j] ?? "") && follows(i + 1);
  }
  memo.set(key, matched);
  return matched;
}

function segments(text: string): Segments {
  const parts: string[] = [];
  let delimiters = "";
  let start = 0;
  // Where the local part of the current word ends (its first `@`), or -1 when the word has none. A local part is
  // one name, not labels: a `.` in it delimits nothing, so `*@evil.io` matches `john.doe@evil.io` (a blocklist that
  // let every first.last address through would block almost nobody), while `*` still stays inside one domain label.
  let localEnd = firstAtOfWord(text, 0);
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? "";
    if (!DELIMITERS.has(c) || (c === "." && i < localEnd)) continue;
    parts.push(text.slice(start, i));
    delimiters += c;
    start = i + 1;
    if (c === " ") localEnd = firstAtOfWord(text, start);
  }
  parts.push(text.slice(start));
  return { parts, delimiters };
}

/** The index of the first `@` of the word starting at `from` (words end at a space), or -1. Reads only that word. */
function firstAtOfWord(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === "@") return i;
    if (c === " ") return -1;
  }
  return -1;
}

/** Classic wildcard scan: on a mismatch, retry from the last `*` one character further. No recursion. */
function matchesSegment(value: string, pattern: string): boolean {
  let v = 0;
  let p = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    const pc = pattern[p];
    if (pc === "?" || (pc !== undefined && pc !== "*" && pc === value[v])) {
      v++;
      p++;
    } else if (pc === "*") {
      star = p++;
      resume = v;
    } else if (star >= 0) {
      p = star + 1;
      v = ++resume;
    } else return false;
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}

// A policy list as it is matched: each pattern normalised, cut at its delimiters, and indexed. Matching every
// recipient against every pattern made one action with 10,000 recipients under a 1,000-entry list cost seconds of
// the event loop (tens of millions of segment scans). A pattern can only match a value with its delimiters, and its
// literal trailing segments (`acme`, `com` of `*@acme.com`) must equal the value's: the index looks patterns up by
// both, so a value is scanned against the few patterns that could match it, with the same result as scanning all.
export interface PatternList {
  /** `delimiters \0 n \0 last n segments` → the patterns whose last n segments are those literals. */
  byTail: Map<string, Segments[]>;
  /** Per delimiters, the tail lengths `byTail` holds (usually one or two). */
  tailLengths: Map<string, number[]>;
  /** Per delimiters, the patterns whose last segment holds a wildcard: scanned one by one. */
  scan: Map<string, Segments[]>;
  /** The patterns with a `**` label, which match values of several delimiter strings: scanned for every value. */
  deep: Segments[];
  /** The words (space-separated segments) of the longest pattern: a value of more words cannot match one. */
  mostWords: number;
}

const WILDCARD = /[*?]/u;
const tailKey = (delimiters: string, parts: readonly string[], n: number) =>
  `${delimiters}\u0000${n}\u0000${parts.slice(parts.length - n).join("\u0000")}`;

function compile(patterns: readonly string[]): PatternList {
  const list: PatternList = { byTail: new Map(), tailLengths: new Map(), scan: new Map(), deep: [], mostWords: 0 };
  for (const pattern of patterns) {
    const p = segments(normalizePattern(pattern));
    list.mostWords = Math.max(list.mostWords, wordsOf(p.delimiters));
    if (p.parts.includes(DEEP)) {
      list.deep.push(p);
      continue;
    }
    let n = 0;
    while (n < p.parts.length && !WILDCARD.test(p.parts[p.parts.length - 1 - n] ?? "")) n++;
    if (n === 0) {
      pushTo(list.scan, p.delimiters, p);
      continue;
    }
    pushTo(list.byTail, tailKey(p.delimiters, p.parts, n), p);
    const lengths = list.tailLengths.get(p.delimiters) ?? [];
    if (!lengths.includes(n)) list.tailLengths.set(p.delimiters, [...lengths, n]);
  }
  return list;
}

function wordsOf(delimiters: string): number {
  let words = 1;
  for (const c of delimiters) if (c === " ") words++;
  return words;
}

function pushTo<K>(map: Map<K, Segments[]>, key: K, p: Segments): void {
  const bucket = map.get(key);
  if (bucket) bucket.push(p);
  else map.set(key, [p]);
}

/** A list compiled once (cached for a frozen manifest list, ./list-cache.ts); check many values against it. */
export const patternList = perList(compile);

const listOf = (patterns: readonly string[] | PatternList): PatternList =>
  Array.isArray(patterns) ? patternList(patterns as readonly string[]) : (patterns as PatternList);

function matchesAny(value: string, list: PatternList): boolean {
  const v = segments(value);
  for (const n of list.tailLengths.get(v.delimiters) ?? []) {
    if (n > v.parts.length) continue;
    for (const p of list.byTail.get(tailKey(v.delimiters, v.parts, n)) ?? []) if (matchesSegments(v, p)) return true;
  }
  for (const p of list.scan.get(v.delimiters) ?? []) if (matchesSegments(v, p)) return true;
  for (const p of list.deep) if (matchesSegments(v, p)) return true;
  return false;
}

/**
 * True when the value, or one of the recipients it hides, matches one of the patterns (a blocklist hit). An address
 * with a subaddress tag is also checked as the mailbox it reaches, so blocking `ceo@acme.com` blocks
 * `ceo+x@acme.com` too. Only here: an allowlist (allPartsMatch) still takes the address as written.
 */
export function anyPartMatches(value: NormalizedValue, patterns: readonly string[] | PatternList): boolean {
  const list = listOf(patterns);
  if (matchesAny(value.whole, list)) return true;
  for (const part of value.parts) {
    if (!part.ok) continue;
    if (matchesAny(part.value, list)) return true;
    const mailbox = withoutSubaddress(part.value);
    if (mailbox !== undefined && matchesAny(mailbox, list)) return true;
  }
  return false;
}

/**
 * The mailbox an address with a subaddress tag is delivered to (RFC 5233 `local+tag@domain` → `local@domain`, as
 * Gmail, Outlook, Fastmail and Postfix's default delimiter do), or undefined when it has no tag.
 */
export function withoutSubaddress(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  const plus = address.indexOf("+");
  if (plus <= 0 || plus > at) return undefined;
  return address.slice(0, plus) + address.slice(at);
}

// An identifier written in groups (an IBAN in print format `DE89 3704 0044 …`, a phone number `+1 (555) 01-00`)
// reaches the receiving system as one value: banks and phone APIs drop the spaces, dashes and brackets between its
// groups. So a blocklist also compares COMPACT forms, value and pattern without them, and a blocked identifier is hit
// in any grouping. Only values that are no address or domain (no `@`, no `.`: `evil-corp.com` is not
// `evilcorp.com`, but a number or an IBAN may be dotted: numberOrIbanOf), and only blocklists (an allowlist entry
// `acme-vendor` must not let `acmevendor` through).
// And the characters that join a name's words where a space would (`Evil_Corp`, `Evil/Corp`, `Evil·Corp`: as
// ./normalize.ts nameWordsOf reads them), so `evil_corp` and `EvilCorp` are one compact name; a value's `*` too
// (`EVIL*CORP`), never a pattern's (its wildcard).
const GROUPING = /[\s\p{Pd}()_/+:~|\\\u00b7\u2022\u2027\u30fb]/gu;
const VALUE_GROUPING = /[\s\p{Pd}()_/+:~|\\\u00b7\u2022\u2027\u30fb*]/gu;
// What still separates two values when the compact form is taken (a list of identifiers is not one identifier): as in
// ./normalize.ts, the list punctuation and every control character (NUL, tab, line breaks).
const LIST_SEPARATORS = /[,;<>"'\u2028\u2029\p{Cc}]+/u;

/** A folded text (a value's, or a `pattern`'s) without its grouping characters, or undefined for an address or a domain. */
function compactOf(folded: string, pattern = false): string | undefined {
  if (folded.includes("@")) return undefined;
  const identifier = numberOrIbanOf(folded);
  if (identifier !== undefined) return identifier;
  if (folded.includes(".")) return undefined;
  const compact = folded.replace(pattern ? GROUPING : VALUE_GROUPING, "");
  return compact === "" ? undefined : compact;
}

// A phone number or an IBAN is also written with the punctuation phone APIs and banks drop (libphonenumber's: `.`
// `/` `~` `_` brackets, the minus sign U+2212, `∼` and `⁓`; `+1.555.0100`, `DE89.3704.0044…`), under the URI scheme
// an SMS or WhatsApp API reads it in (`tel:`, `sms:`, Twilio's `whatsapp:+1555…`), and with the international
// prefix `00` for `+` (`001-555-0100`). Only for a value that is then a number (no letter: a domain keeps its dots)
// or of an IBAN's shape, and never a dotted IPv4 address (`10.0.0.1` and `100.0.1` are two hosts).
export const NUMBER_GROUPING = /[\s\p{Pd}()[\]./~_\u2212\u223c\u2053]/gu;
const NUMBER_SCHEME = /^(?:tel|sms|smsto|mms|mmsto|whatsapp|callto|fax):/u;
const NUMBER = /^\+?[\d*?]*\d[\d*?]*$/u;
const IBAN_SHAPE = /^[a-z]{2}\d{2}[a-z0-9]{11,30}$/u;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/u;

/** The compact form of a phone number or an IBAN (see above), or undefined for any other text. */
function numberOrIbanOf(folded: string): string | undefined {
  if (IPV4.test(folded)) return undefined;
  const unschemed = folded.replace(NUMBER_SCHEME, "");
  const compact = unschemed.replace(NUMBER_GROUPING, "");
  if (NUMBER.test(compact)) return compact.startsWith("00") ? `+${compact.slice(2)}` : compact;
  return unschemed === folded && IBAN_SHAPE.test(compact) ? compact : undefined;
}

// Gmail ignores the dots of a local part and reads googlemail.com as gmail.com: `j.doe@googlemail.com` is the mailbox
// `jdoe@gmail.com`. A blocklist also compares Gmail addresses in that form (only Gmail's: elsewhere `j.doe` and `jdoe`
// are two mailboxes), a value also without its subaddress tag.
const GMAIL_DOMAINS = new Set(["gmail.com", "googlemail.com"]);

/** The Gmail mailbox an address reaches (dots dropped, `@gmail.com`; its tag too unless `keepTag`), or undefined. */
function gmailMailbox(address: string, keepTag: boolean): string | undefined {
  const at = address.lastIndexOf("@");
  if (at < 0 || !GMAIL_DOMAINS.has(address.slice(at + 1))) return undefined;
  const local = address.slice(0, at);
  const plus = keepTag ? -1 : local.indexOf("+");
  return `${(plus > 0 ? local.slice(0, plus) : local).replaceAll(".", "")}@gmail.com`;
}

/** A blocklist's patterns in the forms above (compact identifiers, Gmail mailboxes), compiled once per frozen list. */
export const blocklistForms = perList((patterns) =>
  compile(
    patterns.flatMap((pattern) => {
      const normal = normalizePattern(pattern);
      return compactOf(normal, true) ?? gmailMailbox(normal, true) ?? [];
    }),
  ),
);

/**
 * True when the value reaches a blocked identifier or mailbox in another form (see above): an identifier it holds
 * (each list item of it) in any grouping, or one of its Gmail addresses however dotted or tagged.
 */
export function blockedInAnotherForm(value: NormalizedValue, forms: PatternList): boolean {
  for (const item of value.raw.split(LIST_SEPARATORS)) {
    const compact = compactOf(foldText(item));
    if (compact !== undefined && matchesAny(compact, forms)) return true;
  }
  for (const part of value.parts) {
    if (!part.ok) continue;
    for (const keepTag of [true, false]) {
      const mailbox = gmailMailbox(part.value, keepTag);
      if (mailbox !== undefined && matchesAny(mailbox, forms)) return true;
    }
  }
  return false;
}

/**
 * True when the leading words of a statement descriptor name a blocked party: a card statement shows the merchant's
 * name and then what the acquirer adds (`EVIL CORP ORDER 12`, `EVIL CORP BERLIN`, `EVIL CORP.COM`, `EVIL CORP/BERLIN`,
 * `EVIL CORP-ORDER 12`, `EVIL CORP:4411`), so the entry `evil corp` is hit by the first two words, and `evilcorp` by
 * them too in the compact form a blocklist compares a name in (as it is by `Evil Corp` whole, and `EVIL-CORP ORDER
 * 12` by its first word). A prefix ends where a word does, before any character that is no letter nor digit (a
 * space, `.`, `/`, `-`, `:`, `_`…). Whole words only, after the value's normalisation: `NOTEVILCORP` and
 * `EVIL CORPORATION` name other parties. The whole value is matched already (anyPartMatches): these are its prefixes
 * of up to LEADING_WORDS space-separated words, or as many as the list's longest entry has (a bound: a prefix of more
 * words than an entry cannot match it, and the names a walk finds are many), and PIECES_PER_WORD prefixes a word.
 * `list` and `forms`: blocklistForms' patternList.
 */
export function leadingWordsBlocked(value: NormalizedValue, list: PatternList, forms: PatternList): boolean {
  const { whole } = value;
  const most = Math.max(LEADING_WORDS, list.mostWords);
  let spaces = 0;
  let prefixes = 0;
  const mostPrefixes = PIECES_PER_WORD * most;
  // Each prefix ends where a word does (a letter or digit, then neither): sliced, never split into words.
  for (let end = 1; end < whole.length && spaces < most && prefixes < mostPrefixes; end++) {
    const c = whole[end] ?? "";
    if (!WORD_CHARACTER.test(c) && WORD_CHARACTER.test(whole[end - 1] ?? "")) {
      prefixes++;
      const prefix = whole.slice(0, end);
      // The first word was matched as a part already, in the form written (not in the compact form: `evil-corp`).
      if (!(spaces === 0 && c === " ") && matchesAny(prefix, list)) return true;
      const compact = compactOf(prefix);
      if (compact !== undefined && matchesAny(compact, forms)) return true;
    }
    if (c === " ") spaces++;
  }
  return false;
}

/** Words enough for a merchant's name on a statement (Stripe's and PayPal's descriptors hold 22 characters). */
const LEADING_WORDS = 8;
/** Pieces enough for a word (`evil-corp.co/uk`): prefixes are bounded by this many per word, on a punctuated value. */
const PIECES_PER_WORD = 4;
// What a word is made of: letters (with their marks) and digits.
const WORD_CHARACTER = /[\p{L}\p{M}\p{N}]/u;

/**
 * True when what the value names is allowed: the whole value matches a pattern, or every recipient it hides
 * does (an allowlist pass). A value with a refused part is never allowed (callers refuse it first).
 */
export function allPartsMatch(value: NormalizedValue, patterns: readonly string[] | PatternList): boolean {
  if (value.parts.length === 0 || value.parts.some((p) => !p.ok)) return false;
  const list = listOf(patterns);
  if (matchesAny(value.whole, list)) return true;
  return value.parts.filter(isOk).every((part) => matchesAny(part.value, list));
}

const isOk = (n: Normalized): n is Extract<Normalized, { ok: true }> => n.ok;
