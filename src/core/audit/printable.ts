// What the verifiers print for an auditor's terminal. Values an agent (or a bundle's author) controls — an action's
// type and tool, an agent id, an approval note — may hold control and format characters: a carriage return or an
// ANSI escape rewrites a line already printed (a DENY reads as ALLOW), a newline adds a line to what a bundle
// "proves", a bidi override reorders it. Each such character is shown as its `\u` escape instead.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** `text` with every control, format and line/paragraph separator character written as `\uXXXX`. */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`);
}

// A plain identifier is printed as it is; anything else (spaces, punctuation, escapes) in quotes, so a value can
// never read as the words around it ("… by agent x, with its policy trace; approval: … approved by …").
const PLAIN = /^[\p{L}\p{N}_.:@+-]+$/u;

/** One value inside a sentence: as it is when plain, else as a JSON string whose format characters are escaped too. */
export function shown(value: unknown): string {
  const text = String(value);
  return PLAIN.test(text) ? text : quoted(text);
}

/** `text` as a JSON string literal (`\r`, `\n`, `\u001b`…), with the format characters JSON leaves raw escaped. */
export function quoted(text: string): string {
  return printable(JSON.stringify(text));
}

// A JSON document printed for a terminal (`evidence get`, and `audit export`, whose lines `audit verify` accepts as
// their canonical JSON or as printableJson of it): JSON.stringify escapes C0 controls inside
// strings but leaves C1 controls (U+009B is a CSI that xterm acts on), format characters (a bidi override, a
// zero-width space, a BOM) and U+2028/U+2029 raw. Each is written as its `\uXXXX` escape, one per UTF-16 unit so an
// astral one stays valid JSON: the text still parses to the same strings, so a saved copy verifies as before. A raw
// newline outside a string is the document's own layout (JSON.stringify escapes one inside a string) and stays.
const UNPRINTABLE_IN_JSON = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** JSON text (or JSON lines) with every control but its layout newlines, format and separator character escaped. */
export function printableJson(text: string): string {
  return text.replace(UNPRINTABLE_IN_JSON, (c) => (c === "\n" ? c : jsonEscapes(c)));
}

const jsonEscapes = (char: string) =>
  [...Array(char.length).keys()].map((i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`).join("");
