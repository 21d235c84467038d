// `{param}` substitution in a tool's URL template. Every value is URL-encoded as ONE path segment or query
// value, so a param can never add a segment (`../`), start a query (`?`) or a fragment (`#`), or change the
// host. (The original pasted raw values into the URL: an injection hole.)
import { MAX_PERCENT_DECODES } from "./decoded-forms";

export class UrlTemplateError extends Error {}

const PLACEHOLDER = /\{([A-Za-z0-9_.-]+)\}/g;

/** The param names (a dotted one is a path into the params) a url template fills, in order: what the policy judges. */
export function templatePlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((match) => match[1] ?? "");
}

export function expandUrlTemplate(
  template: string,
  params: Record<string, unknown>,
): { url: string; used: Set<string> } {
  const used = new Set<string>();
  const pathEnd = template.search(/[?#]/);
  const url = template.replace(PLACEHOLDER, (_match, name: string, offset: number) => {
    const value = paramAt(params, name);
    if (value === MISSING) throw new UrlTemplateError(`URL template needs param "${name}"`);
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new UrlTemplateError(`param "${name}" must be a string, number or boolean to go into the URL`);
    }
    const text = String(value);
    // "." and ".." survive encoding and would be resolved as dot segments by the URL parser.
    if (text === "" || text === "." || text === "..") {
      throw new UrlTemplateError(`param "${name}" cannot be empty, "." or ".." in a URL`);
    }
    const climb = pathEnd === -1 || offset < pathEnd ? climbs(text) : undefined;
    if (climb) throw new UrlTemplateError(`param "${name}" ${climb}`);
    used.add(name);
    return encodeURIComponent(text);
  });
  return { url, used };
}

const MISSING = Symbol("missing");

/**
 * The value a placeholder names. A dotted name is a path into the params (`{payee.email}` is `params.payee.email`,
 * a number indexes an array), exactly as a tool's `recipient_params`/`amount_params` paths read them, so the value
 * sent is one the policy judged. (Read as a literal top-level key `"payee.email"`, which no policy path reaches,
 * it let an agent judged for `payee.email: ann@acme.com` send to another address.)
 */
function paramAt(params: Record<string, unknown>, name: string): unknown {
  let value: unknown = params;
  for (const segment of name.split(".")) {
    const walkable = Array.isArray(value) ? /^\d+$/.test(segment) : typeof value === "object" && value !== null;
    if (!walkable || segment === "" || !Object.hasOwn(value as object, segment)) return MISSING;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/**
 * Why a path value could reach another path, or undefined when it cannot: a dot segment between slashes, or a `?`
 * or `#` (endsThePath), in any
 * form a chain on the way may read it as. Encoded, `../admin` stays in its segment here, but a server or proxy
 * that decodes %2F (or reads `\` as `/`, or folds `‥` and `／`) and then resolves dot segments (nginx `proxy_pass`
 * with a URI, for one) would send the call to a path the tool does not name. A value already percent-encoded is
 * sent encoded once more (`%252e%252e` goes as `%25252e%25252e`), and proxies and servers may each decode it
 * again: how many times is theirs to choose. So the value is read as sent and after each percent-decoding until it
 * no longer changes (`%252e%252e` → `%2e%2e` → `..`), and every stage is checked. A stage that does not decode (a
 * stray `%`, an overlong UTF-8 form) is refused, as no one can tell what such a chain makes of it (lenient
 * decoders keep the rest: `%2e%2e%2f%` is `../%` to them), and so is a value still changing after
 * MAX_PERCENT_DECODES decodings (names are read through as many: decoded-forms.ts).
 */
function climbs(text: string): string | undefined {
  const stages = [text];
  for (let round = 0; round <= MAX_PERCENT_DECODES; round += 1) {
    const last = stages[stages.length - 1] as string;
    let decoded: string;
    try {
      decoded = decodeURIComponent(last);
    } catch {
      return `cannot hold, in the URL's path, a "%" that does not percent-decode (${ordinal(round)})`;
    }
    if (decoded === last) break;
    if (round === MAX_PERCENT_DECODES) {
      return `cannot be percent-encoded more than ${MAX_PERCENT_DECODES} times over in the URL's path`;
    }
    stages.push(decoded);
  }
  if (stages.some(hasDotSegment)) {
    return `cannot hold a "." or ".." segment in the URL's path, as it is or once percent-decoded any number of times`;
  }
  if (stages.some(endsThePath)) {
    return `cannot hold "?" or "#" in the URL's path, as it is or once percent-decoded any number of times`;
  }
  return undefined;
}

/**
 * A `?` or `#` (or a form NFKC folds to one, `？`, `＃`) in a path value: sent encoded (`%3F`), it is text to a
 * server that decodes after splitting, but a proxy that decodes before splitting reads a query or a fragment there,
 * i.e. params the policy did not judge (`{id: "x?amount=5000"}`) or a path cut short (`acct_1/transfers#`).
 */
function endsThePath(text: string): boolean {
  return /[?#]/.test(text.normalize("NFKC"));
}

function ordinal(round: number): string {
  return round === 0 ? "as sent" : `after ${round} percent-decoding${round === 1 ? "" : "s"}`;
}

function hasDotSegment(text: string): boolean {
  return text
    .normalize("NFKC")
    .split(/[/\\]/)
    .some((segment) => segment === "." || segment === "..");
}
