// Reasons and trace details quote what an agent sent (a recipient, a currency, the param path it sits at), and they
// are stored in full in the signed audit record, the approval and the answer, where the action's own params are
// bounded (src/core/audit/bound.ts). So a quoted value is clipped: a few hundred characters say which one it is.

export const MAX_QUOTED_CHARS = 200;

/** `text` itself, or its first MAX_QUOTED_CHARS characters and how long it was. */
export function clipped(text: string, max = MAX_QUOTED_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}
