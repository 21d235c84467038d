// Params carried inside a string param: a JSON object or array (`payload: "{\"amount\":5000,\"currency\":\"EUR\"}"`),
// a form-encoded string (`form: "amount=5000&currency=EUR"`), a mail message encoded in base64 (./encoded-messages.ts).
// An upstream that parses the string acts on what it holds, so the policy reads it as if it were nested there: its
// amounts, currencies, countries, names and recipients are judged by every check as the same values in an object
// would be (outside review, finding 2: each of those was sent unjudged). ../extract.ts walks what this returns, as
// params under the string's place (`params.payload (JSON).amount`), its values counted against the same bound as the
// params' own (MAX_PARAM_NODES), each string parsed at most once and the text parsed in all bounded (DecodeBudget).
// A string that is not cleanly JSON (prose, markdown around a code block, `{name}`) is no params: it is read as the
// string it is, as before.
import { charged, type DecodeBudget, encodedMessageIn, overBudget } from "./encoded-messages";

export type { DecodeBudget };

/** What a string param holds besides its own text: params (JSON, a form), message texts, or why it cannot be read. */
export type Embedded = { label: string; params?: unknown; texts?: string[] } | { unreadable: string };

export function embeddedIn(text: string, budget: DecodeBudget): Embedded | undefined {
  if (text.length < 2) return undefined;
  if (JSON_START.test(text) && JSON_END.test(text)) return jsonIn(text, budget);
  const message = encodedMessageIn(text, budget);
  if (message !== undefined)
    return "unreadable" in message ? message : { label: " (mail message)", texts: message.texts };
  return isFormText(text) ? formIn(text, budget) : undefined;
}

const JSON_START = /^\s*[[{]/u;
const JSON_END = /[\]}]\s*$/u;

function jsonIn(text: string, budget: DecodeBudget): Embedded | undefined {
  if (!charged(budget, text.length)) return { unreadable: overBudget("JSON") };
  try {
    return { label: " (JSON)", params: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/**
 * `k=v&k=v` (`application/x-www-form-urlencoded`): each piece a key of URL-safe characters, at least one with a value.
 * A string with an `@` and no `&` is rather an address (`bounce+ann=acme.com@lists.example`), one whose only `=` end
 * it is base64's padding (`dGVzdA==`), and a URL's `:` and `/` are no key's: a link to `…?amount=5000` is no payload.
 */
function isFormText(text: string): boolean {
  if (!text.includes("=") || PADDING_ONLY.test(text)) return false;
  if (!text.includes("&") && text.includes("@")) return false;
  return FORM.test(text);
}
const PADDING_ONLY = /^[^=]*=+$/u;
const FORM = /^[\w.~*%+[\]-]+(?:=[^&]*)?(?:&(?:[\w.~*%+[\]-]+(?:=[^&]*)?)?)*$/u;

/** A form's pairs as params: each key once, a repeated key's values as a list (`to=a&to=b`), decoded (`%40`, `+`). */
function formIn(text: string, budget: DecodeBudget): Embedded {
  if (!charged(budget, text.length)) return { unreadable: overBudget("form-encoded text") };
  const params: Record<string, unknown> = Object.create(null);
  for (const [key, value] of new URLSearchParams(text)) {
    const before = params[key];
    if (before === undefined) params[key] = value;
    else if (Array.isArray(before)) before.push(value);
    else params[key] = [before, value];
  }
  return { label: " (form)", params };
}
