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
  const url = template.replace(PLACEHOLDER, (_match, name: string) => {
    if (!Object.hasOwn(params, name)) throw new UrlTemplateError(`URL template needs param "${name}"`);
    const value = params[name];
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new UrlTemplateError(`param "${name}" must be a string, number or boolean to go into the URL`);
    }
    const text = String(value);
    // "." and ".." survive encoding and would be resolved as dot segments by the URL parser.
    if (text === "" || text === "." || text === "..") {
      throw new UrlTemplateError(`param "${name}" cannot be empty, "." or ".." in a URL`);
    }
    used.add(name);
    return encodeURIComponent(text);
  });
  return { url, used };
}
