// Reasons and trace details quote what an agent sent (a recipient, a currency, the param path it sits at), and they
// are stored in full in the signed audit record, the approval and the answer, where the action's own params are
// bounded (src/core/audit/bound.ts). So a quoted value is clipped: a few hundred characters say which one it is.
// And it is quoted visibly: a control or invisible character (NUL, ESC, a bidi override, a zero-width space) would
// make the quote, and the text after it, read as something else in the console, a terminal or a log. Each one is
// shown as its `\u{…}` escape instead, and so is a line or paragraph separator (U+2028/U+2029), which breaks the
// line a log viewer or a JavaScript reader shows as a newline would.

export const MAX_QUOTED_CHARS = 200;

const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const EACH_UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** `text` itself, or its first MAX_QUOTED_CHARS characters and how long it was; unprintable characters escaped. */
export function clipped(text: string, max = MAX_QUOTED_CHARS): string {
  return visibly(text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`);
}

/** `text` with each control or invisible character shown as its `\u{…}` escape. */
export const visibly = (text: string): string =>
  UNPRINTABLE.test(text) ? text.replace(EACH_UNPRINTABLE, escaped) : text;

const escaped = (char: string) => `\\u{${(char.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}}`;
