// Path and query values holding a control character (U+0000–U+001F, U+007F) are refused before any handler reads
// them. No id, key, cursor or name this API issues holds one, and PostgreSQL cannot even compare text holding NUL:
// `GET /approvals/x%00y` was a 500 there (a failed query) where SQLite answered 404. One rule here, for every
// operation, rather than a pattern repeated on each of the spec's parameters (400 is declared on every operation).
// The same rule refuses the characters that hide or fake what an id reads as in the audit, a terminal or a log:
// C1 controls (U+009B is a terminal's CSI), line and paragraph separators (U+0085, U+2028, U+2029), bidi controls
// (U+202E shows `customer-\u202Etob-troppus` as customer-support-bot) and invisible characters (U+200B, U+FEFF, the
// tag characters U+E0000–U+E007F: `bot\u{E0041}` shows as bot).
import type { ProblemItem } from "./boundary";

/** The tag characters U+E0000–U+E007F, each as its UTF-16 pair, as the spec lists them (spec/common.tsp). */
const TAG_CHARACTERS = Array.from(
  { length: 0x80 },
  (_, i) => `\\uDB40\\uDC${i.toString(16).toUpperCase().padStart(2, "0")}`,
);

/**
 * The spec's `noControlCharacters` pattern (spec/common.tsp; the sessions spec's MessageId and CallId), character for
 * character: src/http/id-characters.test.ts checks every id pattern of generated/ is this one.
 */
export const ID_PATTERN =
  `^(?!.*(?:${TAG_CHARACTERS.join("|")}))` +
  "[^\\u0000-\\u001F\\u007F-\\u009F\\u00AD\\u061C\\u180E\\u200B-\\u200F\\u2028-\\u202E\\u2060-\\u206F\\uFEFF\\uFFF9-\\uFFFB]*$";

/** What a value breaking ID_PATTERN is told. */
export const ID_PATTERN_MESSAGE =
  "must not hold control, line-separator, bidi or invisible characters (U+0000–U+001F, U+007F–U+009F, U+00AD, " +
  "U+061C, U+180E, U+200B–U+200F, U+2028–U+202E, U+2060–U+206F, U+FEFF, U+FFF9–U+FFFB, U+E0000–U+E007F)";

// The values ID_PATTERN lets through, read as ajv reads the spec's pattern (Unicode mode).
const ID = new RegExp(ID_PATTERN, "u");

/** Whether `value` breaks the spec's id rule (ID_PATTERN): an id the API cannot have issued. */
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
