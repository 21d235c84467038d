// The ids a request carries (REST bodies, path and query values, MCP's _meta ids checked with the same ExecuteRequest
// schema, session frames' message_id and call_id) refuse the same characters, from one rule (spec/common.tsp
// noControlCharacters, the sessions spec's MessageId/CallId): control characters, C1 controls (U+009B is a terminal's
// CSI), line separators, bidi controls and invisible characters, each of which hides or fakes what an id reads as.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadMessageValidators } from "../faces/sessions/schemas";
import { controlCharacterParams, ID_PATTERN, ID_PATTERN_MESSAGE, SERVER_ID_PATTERN } from "./control-characters";
import { loadSpec } from "./spec";

const HOSTILE = {
  "NUL U+0000": "\u0000",
  "ESC U+001B": "\u001b",
  "DEL U+007F": "\u007f",
  "NEL U+0085": "\u0085",
  "CSI U+009B": "\u009b",
  "soft hyphen U+00AD": "\u00ad",
  "arabic letter mark U+061C": "\u061c",
  "zero width space U+200B": "\u200b",
  "zero width joiner U+200D": "\u200d",
  "left-to-right mark U+200E": "\u200e",
  "right-to-left mark U+200F": "\u200f",
  "line separator U+2028": "\u2028",
  "paragraph separator U+2029": "\u2029",
  "LRE U+202A": "\u202a",
  "RLO U+202E": "\u202e",
  "word joiner U+2060": "\u2060",
  "LRI U+2066": "\u2066",
  "PDI U+2069": "\u2069",
  "BOM U+FEFF": "\uFEFF",
  // Tag characters: invisible, astral (`customer\u{E0041}-support-bot` shows as customer-support-bot).
  "language tag U+E0001": "\u{E0001}",
  "tag latin capital A U+E0041": "\u{E0041}",
  "cancel tag U+E007F": "\u{E007F}",
  // Every other format (Cf) or default-ignorable character: `customer\u034F-support-bot` shows as customer-support-bot.
  "combining grapheme joiner U+034F": "\u034f",
  "arabic number sign U+0600": "\u0600",
  "hangul choseong filler U+115F": "\u115f",
  "hangul jungseong filler U+1160": "\u1160",
  "khmer vowel inherent U+17B4": "\u17b4",
  "mongolian vowel separator U+180E": "\u180e",
  "invisible plus U+2064": "\u2064",
  "hangul filler U+3164": "\u3164",
  "variation selector-1 U+FE00": "\ufe00",
  "variation selector-16 U+FE0F (emoji presentation)": "\ufe0f",
  "halfwidth hangul filler U+FFA0": "\uffa0",
  "reserved U+FFF0": "\ufff0",
  "interlinear annotation anchor U+FFF9": "\ufff9",
  "kaithi number sign U+110BD": "\u{110BD}",
  "egyptian hieroglyph vertical joiner U+13430": "\u{13430}",
  "shorthand format letter overlap U+1BCA0": "\u{1BCA0}",
  "musical symbol begin beam U+1D173": "\u{1D173}",
  "tag space U+E0020": "\u{E0020}",
  "variation selector-17 U+E0100": "\u{E0100}",
  "variation selector-256 U+E01EF": "\u{E01EF}",
  "reserved default-ignorable U+E0FFF": "\u{E0FFF}",
};
const PLAIN = [
  "customer-support-bot",
  "café-bot",
  "機械-1",
  "bot 🤖",
  "a.b:c@d+e",
  "ünïcödé_ok",
  "x\u00a0y",
  "𝒜-bot-🏴",
  "Ⓐ-bot-☺",
  "🤖-👍🏽",
  "\u{1D400}\u{20000}\u{10FFFD}",
  "\u{E1000}",
];

/** Every `pattern` of a JSON document, with the property name it sits under. */
function patternsOf(file: string): string[] {
  const found: string[] = [];
  JSON.parse(readFileSync(file, "utf8"), (key, value) => {
    if (key === "pattern" && typeof value === "string") found.push(value);
    return value;
  });
  return found;
}

const execute = loadSpec().operations.find((op) => op.operationId === "Gateway_execute");
const frames = await loadMessageValidators({ generatedDir: "generated/messages" });

describe("the id rule", () => {
  it("is the one pattern for ids in the OpenAPI and the sessions' message schemas", () => {
    const messages = readdirSync("generated/messages").filter((f) => f.endsWith(".schema.json"));
    const patterns = new Set([
      ...patternsOf("generated/openapi.json"),
      ...messages.flatMap((f) => patternsOf(`generated/messages/${f}`)),
    ]);
    expect(patterns).toContain(ID_PATTERN);
    // The others: NUL only for free text, and the sessions' upper-case error codes. No older, looser id rule.
    expect([...patterns].filter((p) => p !== ID_PATTERN).sort()).toEqual(["^[A-Z][A-Z0-9_]*$", "^[^\\u0000]*$"]);
  });

  it("is published as one negated class of BMP characters, which every client's regex engine compiles", () => {
    // A lookahead or \p{…} in it broke Python's re and pydantic, Java's Pattern and RE2 (outside review R24e).
    expect(ID_PATTERN).toMatch(/^\^\[\^(?:\\u[0-9A-F]{4}(?:-\\u[0-9A-F]{4})?)+\]\*\$$/);
  });

  it.each(Object.entries(HOSTILE))("refuses %s in a body id, a path or query value and a session frame id", (_, c) => {
    const id = `customer${c}-support-bot`;
    expect(new RegExp(SERVER_ID_PATTERN, "u").test(id)).toBe(false);
    // The published pattern names the BMP ones, read with or without the `u` flag; the server refuses the others too.
    if (c.codePointAt(0)! <= 0xffff) {
      expect(new RegExp(ID_PATTERN, "u").test(id)).toBe(false);
      expect(new RegExp(ID_PATTERN).test(id)).toBe(false);
    }

    expect(execute?.validateBody).toBeDefined();
    const body = { uapk_id: "u", agent_id: id, action: { type: "email", tool: "send", params: {} } };
    expect(execute!.validateBody!(body)).toBe(false);
    expect(execute!.validateBody!.errors?.map((e) => e.instancePath)).toContain("/agent_id");

    expect(controlCharacterParams({ path: { approval_id: id }, query: { agent_id: [id] } })).toMatchObject([
      { pointer: "/path/approval_id" },
      { pointer: "/query/agent_id" },
    ]);

    const frame = frames.validate("ide_in", { type: "tool_result", call_id: id, result: {} });
    expect(frame.ok).toBe(false);
    if (!frame.ok) expect(frame.errors).toContainEqual({ pointer: "/call_id", message: ID_PATTERN_MESSAGE });
    const message = frames.validate("ide_in", { type: "user_message", content: "hi", role: "user", message_id: id });
    expect(message.ok).toBe(false);
    if (!message.ok) expect(message.errors).toContainEqual({ pointer: "/message_id", message: ID_PATTERN_MESSAGE });
  });

  it.each(PLAIN)("lets %s through everywhere", (id) => {
    expect(new RegExp(SERVER_ID_PATTERN, "u").test(id)).toBe(true);
    expect(new RegExp(ID_PATTERN, "u").test(id)).toBe(true);
    expect(new RegExp(ID_PATTERN).test(id)).toBe(true);
    expect(controlCharacterParams({ path: { approval_id: id }, query: {} })).toEqual([]);
    expect(frames.validate("ide_in", { type: "tool_result", call_id: id, result: {} })).toMatchObject({ ok: true });
  });
});
