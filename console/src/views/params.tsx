// What an approval would run, shown to the operator who decides it: the action's params (as the API returns them,
// with the tool's `redact` paths applied) and the person who asked. Everything here comes from an agent or a user,
// so it is shown as text only (Preact text nodes, never HTML), bounded in size, and with every control, format and
// line/paragraph separator character written as its `\u` escape (as src/core/audit/printable.ts does for auditors'
// terminals): a bidi override or a carriage return in a param cannot reorder or hide what the card says.
import { useMemo } from "preact/hooks";
import type { Approval } from "../api";

/** How many characters of the params' JSON a card shows; the rest is counted ("… N more characters"). */
export const PARAMS_SHOWN_CHARS = 4000;

// Every control (Cc), format (Cf: bidi overrides and isolates, zero-width characters) and separator (Zl, Zp)
// character but the newline (in JSON.stringify's output a newline is layout, never part of a string: escaped there),
// and the blank fillers that are letters or marks yet show nothing (the Hangul fillers, the combining grapheme joiner).
const UNPRINTABLE = /[^\P{Cc}\n]|[\p{Cf}\p{Zl}\p{Zp}\u115f\u1160\u3164\uffa0]|\u034f/gu;

/**
 * `text` with every such character written as its escape: `\uXXXX`, or `\u{XXXXX}` past U+FFFF (a tag character
 * U+E0067 as `\ue0067` would read as `\ue006` and a 7).
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.codePointAt(0) ?? 0;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** The params as shown: pretty JSON, its first `limit` characters (never half a surrogate pair) and how many more. */
export function paramsText(params: unknown, limit = PARAMS_SHOWN_CHARS): { text: string; more: number } {
  let json: string;
  try {
    json = JSON.stringify(params ?? {}, null, 2) ?? "{}";
  } catch {
    // Too deep for the browser's stack (the server bounds the depth, but a card never throws).
    return { text: "(the params are nested too deeply to be shown here)", more: 0 };
  }
  if (json.length <= limit) return { text: printable(json), more: 0 };
  let end = limit;
  const last = json.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return { text: printable(json.slice(0, end)), more: json.length - end };
}

/** The action's params as the connector would receive them (redacted values aside): inert, clipped text. */
export function ParamsBlock({ approval }: { approval: Approval }) {
  const params = approval.action.params;
  const { text, more } = useMemo(() => paramsText(params), [params]);
  return (
    <>
      {/* biome-ignore lint/a11y/useAriaPropsSupportedByRole: the label names the block for screen readers and the console tests */}
      <pre aria-label="Params" class="json params">
        {text}
      </pre>
      {more > 0 && (
        <p class="clipped" role="note" aria-label="Params clipped">
          … {more.toLocaleString("en")} more characters (the whole action is bound to the approval: approving it
          approves them too)
        </p>
      )}
    </>
  );
}

/** Who asked for the approval: the person (a verified token's subject) and through which face, when one did. */
export function requesterText(approval: Approval): string {
  if (!approval.requested_by) return "no person (the agent's own request)";
  const via =
    approval.requested_via === "agent_session"
      ? " (IDE session)"
      : approval.requested_via === "mcp"
        ? " (MCP session)"
        : "";
  const who = approval.requested_by;
  return `${printable(who.length > 256 ? `${who.slice(0, 256)}…` : who)}${via}`;
}
