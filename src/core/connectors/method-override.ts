// A param an upstream reads as the request's METHOD, not as data. Laravel and Symfony (method override on, as it
// is in Laravel) route `POST /records/rec-1` with `_method=DELETE` in the body or the query string as
// `DELETE /records/rec-1`; Express's method-override and ASP.NET Core's HttpMethodOverride read
// `X-HTTP-Method-Override` (and the like) from the query or a form field. Sent, such a param would turn an allowed
// `crm:update` into the `crm:delete` that needs an approval: the policy judged the tool, the upstream ran another.
// Params never set headers (http.ts sends only the tool's own), so the names are refused where params do go: the
// query string, a JSON body, a webhook's body, and at any depth of the objects and arrays a param holds. Laravel
// and Symfony read only the top level, but Rack and form parsers turn `data[_method]` into a nested key and back,
// and a framework or middleware unwrapping an envelope (`{data: {...}}`) reads its inner level as the top one:
// which level an upstream reads is not ours to know. Only keys are names: a value `"_method"` is data.
import { decodedForms } from "./decoded-forms";

/** `_method` as PHP, Symfony and Rack read it: only an exact `_method` (after folding) is the override. */
const METHOD_PARAM = "_method";
/** Header names some frameworks also read as query or form names (compared with `-`, `_`, `.` alike). */
const METHOD_HEADERS = new Set(["x-http-method-override", "x-http-method", "x-method-override"]);

/** A member met by the walk: its value, and its key and parent to name where it is (built only when refused). */
interface Member {
  value: unknown;
  key: string;
  parent: Member | undefined;
}

/**
 * Why the params about to be sent cannot be (a key at any depth would choose the upstream's method); undefined when
 * none. Iterative and linear in the values, which the engine bounds (MAX_PARAMS_VALUES) before any connector runs.
 */
export function methodOverrideProblem(sent: Record<string, unknown>): string | undefined {
  const pending: Member[] = [{ value: sent, key: "", parent: undefined }];
  for (let member = pending.pop(); member !== undefined; member = pending.pop()) {
    const { value } = member;
    if (value === null || typeof value !== "object") continue;
    const isArray = Array.isArray(value);
    for (const [key, child] of Object.entries(value)) {
      if (!isArray && isOverrideName(key)) return refusal(key, member);
      pending.push({ value: child, key, parent: member });
    }
  }
  return undefined;
}

function isOverrideName(name: string): boolean {
  return decodedForms(name).map(foldMethodName).some(isMethodOverride);
}

function refusal(name: string, holder: Member): string {
  const path: string[] = [];
  for (let at: Member | undefined = holder; at?.parent !== undefined; at = at.parent) path.unshift(at.key);
  const where = path.length === 0 ? "" : ` (inside param ${JSON.stringify(path.join("."))})`;
  return `param ${JSON.stringify(name)}${where} cannot be sent: an upstream may read it as the request's method (method override)`;
}

function isMethodOverride(folded: string): boolean {
  return folded === METHOD_PARAM || METHOD_HEADERS.has(folded.replace(/[_.]/g, "-"));
}

/**
 * A name reduced to what a framework may read it as: cut at NUL (C strings, PHP), compatibility forms (NFKC),
 * case (upper then lower: `ſ`, Kelvin sign), marks, control and invisible format characters dropped, surrounding
 * whitespace trimmed, a `[…]` suffix dropped (PHP's `_method[x]`), then PHP's turning of space and `.` into `_`
 * (`.method` is `_method` to PHP). Unlike `foldParamName` the leading `_` stays: `method` is a legitimate name.
 */
export function foldMethodName(name: string): string {
  const nul = name.indexOf("\u0000");
  let folded = nul === -1 ? name : name.slice(0, nul);
  folded = folded.normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC");
  folded = folded.replace(/[\p{Cc}\p{Cf}\p{M}]/gu, "").trim();
  const open = folded.indexOf("[");
  if (open > 0 && folded.indexOf("]", open) !== -1) folded = folded.slice(0, open);
  return folded.replace(/[\s.]/gu, "_");
}
