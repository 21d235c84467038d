// `gatehouse audit export` prints the audit log an agent wrote part of (an action's params) to the operator's
// terminal or a file: a C1 CSI (U+009B, which xterm acts on), a bidi override, NEL (U+0085) or a line separator
// (U+2028) came out raw, repainting the terminal, and splitting a record in two for a reader that breaks lines on
// every Unicode line break (Python's splitlines()). Each is now written as its `\uXXXX` escape: one JSON document a
// line whatever splits it, each parsing to the stored record, and `gatehouse audit verify` accepts the export.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../../cli/program";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody, ORG_ID, operator, registerManifest } from "../../../test-support/http";

const UAPK = "export-printable-bot";
const HOSTILE = ["x\u009b2Jy", "a\u202eb", "line\u2028two", "next\u0085line", "p\u2029q\u200br\ufeffs\u001bt\r\nu"];
// Every line boundary Python's str.splitlines() knows.
// biome-ignore lint/suspicious/noControlCharactersInRegex: splitting where such a reader splits is the point
const ANY_LINE_BREAK = /\r\n|[\n\r\v\f\u001c\u001d\u001e\u0085\u2028\u2029]/u;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

describe("gatehouse audit export", () => {
  let g: TestGatehouse;
  let work: string;

  beforeAll(async () => {
    g = await startTestGatehouse();
    work = mkdtempSync(join(tmpdir(), "gatehouse-audit-export-"));
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Export Bot" },
      capabilities: ["crm:note"],
      tools: { "crm:note": { connector: { type: "echo" } } },
    });
    for (const note of HOSTILE) {
      const ran = await agent(g).post(
        "/api/v1/gateway/execute",
        executeBody(UAPK, { type: "crm", tool: "note", params: { note } }),
      );
      expect(ran.status, ran.text).toBe(200);
    }
  });

  afterAll(async () => {
    await g?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  it("escapes control, format and separator characters; every line break splits records only; it verifies", async () => {
    const got = await cli("audit", "export", "--url", g.url, "--token", g.operatorToken, "--org", ORG_ID);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout.replaceAll("\n", "")).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);

    // The same records the API exports, one JSON document per line however the lines are split.
    // (The signed chain head at the end is signed anew on each export: records only.)
    const records = (text: string, split: RegExp) =>
      text
        .split(split)
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l))
        .filter((r) => !("chain_head" in r));
    const stored = records((await operator(g).get("/interactions/export")).text, /\n/u);
    const printed = records(got.stdout, ANY_LINE_BREAK);
    expect(stored.length).toBeGreaterThanOrEqual(2 * HOSTILE.length);
    expect(printed).toEqual(stored);
    for (const note of HOSTILE) expect(JSON.stringify(printed)).toContain(JSON.stringify(note));

    const file = join(work, "audit.jsonl");
    writeFileSync(file, `${got.stdout}\n`);
    const jwks = join(work, "jwks.json");
    writeFileSync(jwks, JSON.stringify(await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json())));
    const verified = await cli("audit", "verify", file, "--jwks", jwks);
    expect(verified.code, `${verified.stdout}\n${verified.stderr}`).toBe(0);

    // Only those characters may be escaped: another spelling of a record is still refused.
    const respelled = join(work, "respelled.jsonl");
    writeFileSync(respelled, `${got.stdout.replace('"crm"', '"\\u0063rm"')}\n`);
    const refused = await cli("audit", "verify", respelled, "--jwks", jwks);
    expect(refused.code).toBe(1);
    expect(`${refused.stdout}\n${refused.stderr}`).toContain("is not canonical JSON");
  });

  it("GET …/interactions/export escapes them the same way (the same lines as the CLI's), and it verifies", async () => {
    // It sent the stored bytes: a `curl` of the export to a terminal acted on the agent's CSI and bidi override,
    // and Python's splitlines() cut a record at its U+2028 / U+0085.
    const exported = await operator(g).get("/interactions/export");
    expect(exported.status).toBe(200);
    expect(exported.text.replaceAll("\n", "")).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    const lines = exported.text.trimEnd().split(ANY_LINE_BREAK);
    expect(lines).toEqual(exported.text.trimEnd().split("\n"));
    const records = lines.map((l) => JSON.parse(l)).filter((r) => !("chain_head" in r));
    for (const note of HOSTILE) expect(JSON.stringify(records)).toContain(JSON.stringify(note));

    // The CLI prints the same record lines (its own escaping leaves an escaped export as it is).
    const printed = await cli("audit", "export", "--url", g.url, "--token", g.operatorToken, "--org", ORG_ID);
    const recordLines = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith('{"chain_head"'));
    expect(recordLines(printed.stdout)).toEqual(recordLines(exported.text));

    const file = join(work, "rest.jsonl");
    writeFileSync(file, exported.text);
    const jwks = join(work, "jwks-rest.json");
    writeFileSync(jwks, JSON.stringify(await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json())));
    const verified = await cli("audit", "verify", file, "--jwks", jwks);
    expect(verified.code, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    expect(verified.stdout).toMatch(/^OK: /);
  });
});
