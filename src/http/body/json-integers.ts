// Integers beyond what a double holds exactly. JSON.parse reads every number as an IEEE 754 double, so
// `{"n":12345678901234567890}` became 12345678901234567000: the policy judged, the connector sent and the audit
// signed another number than the agent's (a numeric record id then names another record). Like `1e309`, which would
// be relayed as null, such a number is refused, naming it: I-JSON (RFC 7493 §2.2) keeps integers within
// ±(2^53−1), where every one is exact; a larger one goes as a string. Only integer literals are concerned: a decimal
// (`0.1`) or an exponent (`6.02e23`) is read as the double it denotes, as its sender's own parser reads it.
import { isKey, nameOf, stringEnd } from "./json-duplicates";
import { escapePointer } from "./json-shape";

export const UNSAFE_INTEGER_MESSAGE =
  "integer is beyond ±(2^53−1) (9007199254740991), which a JSON number holds exactly: it would be rounded (send it as a string)";

// An integer literal of 16 digits or more: the only ones that can exceed 2^53−1 (JSON forbids leading zeros).
const LONG_DIGIT_RUN = /\d{16}/;
// A JSON number token, from its first character.
const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

/** One open object (the member being read) or array (the index of the element being read). */
interface Open {
  array: boolean;
  key: string;
  index: number;
}

/**
 * The JSON pointer of the first integer literal of `text` whose magnitude is beyond 2^53−1, or undefined. `text` is
 * JSON that JSON.parse accepted (the scan relies on it). Iterative; most texts hold no run of 16 digits and are not
 * scanned at all.
 */
export function unsafeIntegerPointer(text: string): string | undefined {
  if (!LONG_DIGIT_RUN.test(text)) return undefined;
  const open: Open[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      const top = open[open.length - 1];
      if (top && !top.array && isKey(text, end)) top.key = nameOf(text, i, end);
      i = end + 1;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const token = (NUMBER.exec(text) as RegExpExecArray)[0];
      if (isUnsafeInteger(token)) return pointerOf(open);
      i += token.length;
    } else {
      step(open, c);
      i++;
    }
  }
  return undefined;
}

/** Opens, closes or moves on in the structure for a punctuation character. */
function step(open: Open[], c: number): void {
  if (c === 0x7b /* { */ || c === 0x5b /* [ */) open.push({ array: c === 0x5b, key: "", index: 0 });
  else if (c === 0x7d /* } */ || c === 0x5d /* ] */) open.pop();
  else if (c === 0x2c /* , */) {
    const top = open[open.length - 1];
    if (top?.array) top.index++;
  }
}

/** An integer literal (no fraction, no exponent) whose magnitude is beyond Number.MAX_SAFE_INTEGER. */
function isUnsafeInteger(token: string): boolean {
  const digits = token.charCodeAt(0) === 0x2d ? token.length - 1 : token.length;
  if (digits < 16 || token.includes(".") || token.includes("e") || token.includes("E")) return false;
  return digits > 16 || BigInt(token.charCodeAt(0) === 0x2d ? token.slice(1) : token) > BigInt(Number.MAX_SAFE_INTEGER);
}

function pointerOf(open: readonly Open[]): string {
  let pointer = "";
  for (const at of open) pointer += `/${at.array ? String(at.index) : escapePointer(at.key)}`;
  return pointer || "/";
}
