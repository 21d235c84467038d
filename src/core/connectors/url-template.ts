// `{param}` substitution in a tool's URL template. Every value is URL-encoded as ONE path segment or query
// value, so a param can never add a segment (`../`), start a query (`?`) or a fragment (`#`), or change the
// host. (The original pasted raw values into the URL: an injection hole.)
export class UrlTemplateError extends Error {}

const PLACEHOLDER = /\{([A-Za-z0-9_.-]+)\}/g;

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
    if ((pathEnd === -1 || offset < pathEnd) && climbs(text)) {
      throw new UrlTemplateError(
        `param "${name}" cannot hold a "." or ".." segment in the URL's path (nor once percent-decoded, nor a "%" that does not decode)`,
      );
    }
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
 * Whether a path value holds a dot segment between slashes. Encoded, `../admin` stays in its segment here, but
 * a server or proxy on the way that decodes %2F (or reads `\` as `/`, or folds `‥` and `／`) and then resolves
 * dot segments (nginx `proxy_pass` with a URI, for one) would send the call to a path the tool does not name.
 * A value already percent-encoded (`%2e%2e`, `..%2f..%2fadmin`) is sent encoded once more (`..%252f..`), so a chain
 * that decodes twice reaches the same parent: it is read once decoded too, and one that does not decode (a stray
 * `%`) is refused, as no one can tell what such a chain makes of it.
 */
function climbs(text: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    return true;
  }
  return [text, decoded].some(hasDotSegment);
}

function hasDotSegment(text: string): boolean {
  return text
    .normalize("NFKC")
    .split(/[/\\]/)
    .some((segment) => segment === "." || segment === "..");
}
