// A mail message carried encoded in a string param, read as its text: Gmail's `users.messages.send` takes the whole
// RFC 5322 message base64url-encoded in `raw`, SES's SendRawEmail base64 in `RawMessage.Data`. Its `To:` / `Bcc:`
// header lines are where the message goes: read as the plain message's text is read (../extract.ts reads a header
// block's recipients in any string), or `{to: "ann@acme.com", raw: base64url("To: boss@evil.example …")}` was judged
// at ann@acme.com alone and sent to boss@evil.example (outside review, finding 1).
//
// A string is such a message when its decoded start is RFC 5322 header text (messageLike). It is decoded once, whole,
// within a budget shared by the whole extraction (DecodeBudget). A string that starts as one but holds characters
// outside one base64 alphabet (decoders differ on those: Node's skips them, others stop or refuse) or more than the
// budget cannot be read as its upstream reads it: the extraction then fails closed (`unreadable`). RFC 2047 encoded
// words in a message's header block (`To: =?utf-8?b?…?=`), decoded by lenient parsers, are read decoded too.

/**
 * Characters of embedded text (JSON and form strings parsed, messages decoded) one extraction reads in all: a few
 * times the largest params a request may carry (a 1 MiB body), so only nesting past any real payload reaches it.
 */
export const MAX_DECODED_CHARS = 4 * 1024 * 1024;

/** What one extraction decoded so far (../extract.ts's walk state holds it). */
export interface DecodeBudget {
  decodedChars?: number;
}

/** Charges `chars` to the budget; false (nothing charged) when they would exceed it. */
export function charged(budget: DecodeBudget, chars: number): boolean {
  const total = (budget.decodedChars ?? 0) + chars;
  if (total > MAX_DECODED_CHARS) return false;
  budget.decodedChars = total;
  return true;
}

export const overBudget = (what: string) =>
  `holds ${what} beyond the ${MAX_DECODED_CHARS.toLocaleString("en")} characters of embedded text the policy reads`;

/** The texts to read of a string that is a mail message (decoded), or why it cannot be read. */
export type MessageReading = { texts: string[] } | { unreadable: string };

/**
 * The text of a mail message a string carries base64 or base64url encoded; or, for a plain message whose header
 * block holds encoded words, that block decoded (the plain text itself is read by the caller). Undefined otherwise.
 */
export function encodedMessageIn(text: string, budget: DecodeBudget): MessageReading | undefined {
  if (text.includes("=?") && messageLike(text) === true) {
    const decoded = decodedWords(headerBlock(text));
    return decoded === undefined ? undefined : { texts: [decoded] };
  }
  if (text.length < MIN_ENCODED || !startsPrintable(text)) return undefined;
  let like = messageLike(latin1(text.slice(0, PREFIX_CHARS)));
  if (like === MORE && text.length > PREFIX_CHARS) {
    if (!charged(budget, text.length)) return { unreadable: overBudget("a base64 mail message") };
    like = messageLike(latin1(text));
  }
  if (like !== true) return undefined;
  if (!CLEAN_BASE64.test(text) && !CLEAN_BASE64URL.test(text))
    return {
      unreadable:
        "looks like a base64 mail message but holds characters outside one base64 alphabet (decoders read it differently)",
    };
  if (!charged(budget, text.length)) return { unreadable: overBudget("a base64 mail message") };
  const message = Buffer.from(text, "base64").toString("utf8");
  const words = message.includes("=?") ? decodedWords(headerBlock(message)) : undefined;
  return { texts: words === undefined ? [message] : [message, words] };
}

// The shortest message worth decoding (`To:a@b.c` is 12 characters encoded), and how much of a string is decoded
// first to see whether it is one (192 bytes: the first header line, and the start of the next, of any real message).
const MIN_ENCODED = 12;
const PREFIX_CHARS = 256;

/**
 * Whether the first three bytes a lenient decoder reads from the text (its first four characters of either base64
 * alphabet, others skipped) are printable ASCII, as a header field's name and colon are: about 1 in 20 strings that
 * are no message pass, the rest cost no decoding (read without allocating: the walk asks it of every string).
 */
function startsPrintable(text: string): boolean {
  let bits = 0;
  let sextets = 0;
  for (let i = 0; i < text.length && sextets < 4; i++) {
    const c = text.charCodeAt(i);
    if (c === EQUALS) return false;
    const sextet = c < 128 ? (SEXTETS[c] as number) : -1;
    if (sextet < 0) continue;
    bits = (bits << 6) | sextet;
    sextets++;
  }
  if (sextets < 4) return false;
  for (let shift = 16; shift >= 0; shift -= 8) {
    const byte = (bits >> shift) & 0xff;
    if (byte < 0x21 || byte > 0x7e) return false;
  }
  return true;
}
const EQUALS = 0x3d;
const SEXTETS = new Int8Array(128).fill(-1);
for (const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].entries())
  SEXTETS[c.charCodeAt(0)] = i;
SEXTETS["-".charCodeAt(0)] = 62;
SEXTETS["_".charCodeAt(0)] = 63;
// One alphabet, whitespace (SES's data is often wrapped at 76 characters) and the padding at the end alone.
const CLEAN_BASE64 = /^[A-Za-z0-9+/\s]*(?:=\s*){0,2}$/u;
const CLEAN_BASE64URL = /^[A-Za-z0-9_\s-]*(?:=\s*){0,2}$/u;

const latin1 = (encoded: string) => Buffer.from(encoded, "base64").toString("latin1");

const MORE = "more";

/**
 * Whether text starts as an RFC 5322 header block: a header field (`Name: value`, an mbox `From ` line before it
 * allowed), whose name is a well-known one (`To`, `Subject`, `X-…`) or which the next line continues (another field,
 * a folded line or the blank line that ends the block). MORE: the first line runs past the text (a prefix) and its
 * name is no well-known one. Decoded bytes that are no message (an id, a token, prose read as base64) almost never
 * pass: the first line alone is about 1 in 400 of random bytes, the line after it 1 in 50 of those.
 */
function messageLike(text: string): boolean | typeof MORE {
  const first = FIRST_FIELD.exec(text);
  if (!first) return false;
  if (KNOWN_FIELD.test(first[1] as string)) return true;
  if (first[2] === "") return MORE;
  return NEXT_LINE.test(text.slice(first[0].length));
}
const FIRST_FIELD = /^(?:From [^\n]*\n)?([\x21-\x39\x3b-\x7e]+)[ \t]*:[^\n]*(\n|$)/u;
const NEXT_LINE = /^(?:\r?\n|[ \t]|[\x21-\x39\x3b-\x7e]+[ \t]*:)/u;
const KNOWN_FIELD =
  /^(?:(?:resent-)?(?:to|cc|bcc|from|sender|date|message-id)|reply-to|subject|mime-version|content-[a-z-]+|received|return-path|delivered-to|envelope-to|dkim-signature|in-reply-to|references|x-[\x21-\x39\x3b-\x7e]*)$/iu;

/** A message's header block: up to its first blank line. */
function headerBlock(message: string): string {
  const end = message.search(/\r?\n\r?\n/u);
  return end < 0 ? message : message.slice(0, end);
}

/** Text with its RFC 2047 encoded words decoded (`=?utf-8?q?boss=40evil.example?=`), or undefined if it holds none. */
function decodedWords(text: string): string | undefined {
  const decoded = text.replace(ENCODED_WORD, (_, charset: string, encoding: string, data: string) =>
    decodeWord(charset, encoding, data),
  );
  return decoded === text ? undefined : decoded;
}
const ENCODED_WORD = /=\?([^?\s]+)\?([bq])\?([^?\s]*)\?=/giu;

function decodeWord(charset: string, encoding: string, data: string): string {
  const bytes =
    encoding.toLowerCase() === "b"
      ? Buffer.from(data, "base64")
      : Buffer.from(
          data
            .replace(/_/gu, " ")
            .replace(/=([0-9a-f]{2})/giu, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
          "latin1",
        );
  try {
    // RFC 2231 lets a charset name its language (`utf-8*en`).
    return new TextDecoder(charset.replace(/\*.*$/u, "")).decode(bytes);
  } catch {
    return bytes.toString("latin1");
  }
}
