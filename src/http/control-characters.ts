// Path and query values holding a control character (U+0000–U+001F, U+007F) are refused before any handler reads
// them. No id, key, cursor or name this API issues holds one, and PostgreSQL cannot even compare text holding NUL:
// `GET /approvals/x%00y` was a 500 there (a failed query) where SQLite answered 404. One rule here, for every
// operation, rather than a pattern repeated on each of the spec's parameters (400 is declared on every operation).
import type { ProblemItem } from "./boundary";

// The very characters refused, as the spec's `noControlCharacters` pattern names them for body fields.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this regex's purpose
const CONTROL = /[\u0000-\u001f\u007f]/u;

/** The path or query values that hold a control character, as problem items. */
export function controlCharacterParams(values: {
  path: Record<string, unknown>;
  query: Record<string, unknown>;
}): ProblemItem[] {
  const problems: ProblemItem[] = [];
  for (const where of ["path", "query"] as const)
    for (const [name, value] of Object.entries(values[where]))
      if (holdsControl(value))
        problems.push({ pointer: `/${where}/${name}`, message: "must not hold control characters" });
  return problems;
}

/** A value (or, for a repeated query parameter, one of its values) holding a control character. */
function holdsControl(value: unknown): boolean {
  if (typeof value === "string") return CONTROL.test(value);
  return Array.isArray(value) && value.some((v) => typeof v === "string" && CONTROL.test(v));
}
