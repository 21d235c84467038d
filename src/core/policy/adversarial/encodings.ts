// Generators of hostile encodings of one value, for the adversarial property tests: each keeps the value's
// meaning for a mail server or a connector (or tries to pass for it) while changing its bytes.
import fc from "fast-check";

const FULL_WIDTH_OFFSET = 0xfee0; // '!'..'~' → U+FF01..U+FF5E
const CYRILLIC_LOOK_ALIKES: Record<string, string> = { a: "а", e: "е", o: "о", p: "р", c: "с", x: "х", y: "у", i: "і" };
const GREEK_LOOK_ALIKES: Record<string, string> = { o: "ο", a: "α", i: "ι", k: "κ", v: "ν", x: "χ" };

/** One encoding per character: as is, upper case, full width, or (for letters that have one) a look-alike. */
const charEncoding = (c: string): fc.Arbitrary<string> => {
  const options = [c, c.toUpperCase()];
  const code = c.charCodeAt(0);
  if (code >= 0x21 && code <= 0x7e) options.push(String.fromCharCode(code + FULL_WIDTH_OFFSET));
  const cyrillic = CYRILLIC_LOOK_ALIKES[c];
  const greek = GREEK_LOOK_ALIKES[c];
  if (cyrillic) options.push(cyrillic);
  if (greek) options.push(greek);
  return fc.constantFrom(...options);
};

/** The value with each character in case, width or look-alike form. */
export const recoded = (value: string): fc.Arbitrary<string> =>
  fc.tuple(...[...value].map(charEncoding)).map((chars) => chars.join(""));

export const PADDING = ["", " ", "\t", "\u00a0", "\u3000", "\n", " \r\n "];
export const SEPARATORS = [",", ";", " ", "\n", "\r\n", "\u0000", "\t", "\uff0c", "\uff1b", "\u2028", ", "];
export const TRAILING = ["", ".", "..", "\uff0e"];

/** The value padded, dotted, and possibly hidden among harmless recipients. */
export const disguised = (value: string, harmless: string): fc.Arbitrary<string> =>
  fc
    .record({
      body: recoded(value),
      before: fc.constantFrom(...PADDING),
      after: fc.constantFrom(...PADDING),
      dot: fc.constantFrom(...TRAILING),
      company: fc.constantFrom<"alone" | "first" | "last">("alone", "first", "last"),
      sep: fc.constantFrom(...SEPARATORS),
    })
    .map(({ body, before, after, dot, company, sep }) => {
      const hostile = `${before}${body}${dot}${after}`;
      if (company === "first") return `${harmless}${sep}${hostile}`;
      if (company === "last") return `${hostile}${sep}${harmless}`;
      return hostile;
    });

/** Where in an action the value is put: the declared counterparty, or params the connector reads. */
export type Placement = (value: string) => { params: Record<string, unknown>; counterparty?: string };

export const PLACEMENTS: Record<string, Placement> = {
  "params.to": (v) => ({ params: { to: v } }),
  "params.TO": (v) => ({ params: { TO: v } }),
  "params.ＴＯ (full-width key)": (v) => ({ params: { ＴＯ: v } }),
  "params.Cc[]": (v) => ({ params: { to: "ok@acme.com", Cc: ["ok2@acme.com", v] } }),
  "params.bcc": (v) => ({ params: { to: "ok@acme.com", bcc: v } }),
  "params.recipients[{email}]": (v) => ({
    params: { recipients: [{ name: "Ann", email: "ok@acme.com" }, { Email: v }] },
  }),
  "params.recipient{address}": (v) => ({ params: { recipient: { address: v } } }),
  "params.message.to (nested)": (v) => ({ params: { message: { headers: { to: v } } } }),
  "params.email_address": (v) => ({ params: { email_address: v } }),
  "params.counterparty": (v) => ({ params: { counterparty: v } }),
  "params.to {name-only object}": (v) => ({ params: { to: { display: v } } }),
  // A map of address → display name (the connector sends to the keys): the value beside it is harmless.
  "params.to {address: name} map": (v) => ({ params: { to: { [v]: "ok@acme.com" } } }),
  "params.cc[{address: name}]": (v) => ({ params: { to: "ok@acme.com", cc: [{ [v]: "ok@acme.com" }] } }),
  "params.payee.mailbox (declared)": (v) => ({ params: { payee: { mailbox: v } } }),
  "action.counterparty": (v) => ({ params: {}, counterparty: v }),
  "action.counterparty + harmless to": (v) => ({ params: { to: "ok@acme.com" }, counterparty: v }),
};
