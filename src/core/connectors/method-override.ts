// A param an upstream reads as the request's METHOD, not as data. Laravel and Symfony (method override on, as it
// is in Laravel) route `POST /records/rec-1` with `_method=DELETE` in the body or the query string as
// `DELETE /records/rec-1`; Express's method-override and ASP.NET Core's HttpMethodOverride read
// `X-HTTP-Method-Override` (and the like) from the query or a form field. Sent, such a param would turn an allowed
// `crm:update` into the `crm:delete` that needs an approval: the policy judged the tool, the upstream ran another.
// Params never set headers (http.ts sends only the tool's own), so the names are refused where params do go: the
// query string, a JSON body, a webhook's body.
import { decodedForms } from "./decoded-forms";

/** `_method` as PHP, Symfony and Rack read it: only an exact `_method` (after folding) is the override. */
const METHOD_PARAM = "_method";
/** Header names some frameworks also read as query or form names (compared with `-`, `_`, `.` alike). */
const METHOD_HEADERS = new Set(["x-http-method-override", "x-http-method", "x-method-override"]);

/** Why one of these param names cannot be sent (it would choose the upstream's method); undefined when none. */
export function methodOverrideProblem(names: string[]): string | undefined {
  for (const name of names) {
    if (!decodedForms(name).map(foldMethodName).some(isMethodOverride)) continue;
    return `param ${JSON.stringify(name)} cannot be sent: an upstream may read it as the request's method (method override)`;
  }
  return undefined;
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
