// Path and query values holding a control character (U+0000–U+001F, U+007F) are refused before any handler reads
// them. No id, key, cursor or name this API issues holds one, and PostgreSQL cannot even compare text holding NUL:
// `GET /approvals/x%00y` was a 500 there (a failed query) where SQLite answered 404. One rule here, for every
// operation, rather than a pattern repeated on each of the spec's parameters (400 is declared on every operation).
// The same rule refuses the characters that hide or fake what an id reads as in the audit, a terminal or a log:
// C1 controls (U+009B is a terminal's CSI), line and paragraph separators (U+0085, U+2028, U+2029), format characters
// (Cf: bidi controls, U+202E shows `customer-\u202Etob-troppus` as customer-support-bot; U+200B, U+FEFF, the tag
// characters U+E0000–U+E007F, `bot\u{E0041}` shows as bot) and default-ignorable characters (U+034F, U+3164, the
// variation selectors: `bot\u034F` shows as bot), as the policy's names call them invisible (core/policy/normalize.ts).
import type { ProblemItem } from "./boundary";

/** The BMP characters an id may not hold (see the header), as a character class's ranges. */
const REFUSED_BMP =
  "\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u034F\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u115F\\u1160" +
  "\\u17B4\\u17B5\\u180B-\\u180F\\u200B-\\u200F\\u2028-\\u202E\\u2060-\\u206F\\u3164\\uFE00-\\uFE0F\\uFEFF\\uFFA0" +
  "\\uFFF0-\\uFFFB";

/**
 * The spec's `noControlCharacters` pattern (spec/common.tsp; the sessions spec's MessageId and CallId), character for
 * character: src/http/id-characters.test.ts checks every id pattern of generated/ is this one. One negated character
 * class of BMP characters, which every regex engine a client generates code for compiles (Python's re and pydantic,
 * Java, .NET, RE2, JavaScript with or without `u`): a lookahead or `\p{…}` there broke them.
 */
export const ID_PATTERN = `^[^${REFUSED_BMP}]*$`;

/**
 * What the server holds ids to: ID_PATTERN, and every format and default-ignorable character beyond the BMP, which
 * no portable class names (the tag characters U+E0000–U+E0FFF: `bot\u{E0041}` shows as bot; U+1D173–U+1D17A,
 * U+13430–U+1343F, U+1BCA0–U+1BCA3, U+110BD, U+110CD, the variation selectors U+E0100–U+E01EF). Read in Unicode mode.
 */
export const SERVER_ID_PATTERN = `^(?!.*(?:\\p{Cf}|\\p{Default_Ignorable_Code_Point}))[^${REFUSED_BMP}]*$`;

/**
 * Ajv's regular-expression engine (its `code.regExp` option): the spec's id pattern is compiled as SERVER_ID_PATTERN,
 * so every schema validation of an id (REST bodies, MCP requests, session frames) applies the server's whole rule.
 */
export const idRuleRegExp = Object.assign(
  (pattern: string, flags: string) => new RegExp(pattern === ID_PATTERN ? SERVER_ID_PATTERN : pattern, flags),
  { code: "idRuleRegExp" },
);

/** What a value breaking ID_PATTERN is told. */
export const ID_PATTERN_MESSAGE =
  "must not hold control, line-separator, bidi or invisible characters (U+0000–U+001F, U+007F–U+009F, U+2028, " +
  "U+2029, format characters such as U+00AD, U+061C, U+200B–U+200F, U+202A–U+202E, U+2060–U+206F, U+FEFF, " +
  "U+E0000–U+E007F, default-ignorable ones such as U+034F, U+115F, U+1160, U+180B–U+180F, U+3164, U+FE00–U+FE0F, " +
  "U+FFA0, U+E0100–U+E01EF)";

// The values the server's rule lets through (Unicode mode, as ajv reads patterns).
const ID = new RegExp(SERVER_ID_PATTERN, "u");

/** Whether `value` breaks the id rule (SERVER_ID_PATTERN): an id the API cannot have issued. */
export const breaksIdRule = (value: string): boolean => !ID.test(value);

/** The path or query values that hold a control character, as problem items. */
export function controlCharacterParams(values: {
  path: Record<string, unknown>;
  query: Record<string, unknown>;
}): ProblemItem[] {
  const problems: ProblemItem[] = [];
  for (const where of ["path", "query"] as const)
    for (const [name, value] of Object.entries(values[where]))
      if (holdsControl(value)) problems.push({ pointer: `/${where}/${name}`, message: ID_PATTERN_MESSAGE });
  return problems;
}

/** A value (or, for a repeated query parameter, one of its values) holding a control character. */
function holdsControl(value: unknown): boolean {
  if (typeof value === "string") return breaksIdRule(value);
  return Array.isArray(value) && value.some((v) => typeof v === "string" && breaksIdRule(v));
}
