// `gatehouse evidence get` prints a bundle an agent wrote part of (its agent_id, the action's params) to the
// operator's terminal: a C1 CSI (U+009B, which xterm acts on), a bidi override, a zero-width space, a line separator
// or a BOM in them must come out as `\uXXXX` escapes, as in every other CLI output. The printed text is still the
// bundle: saved to a file, it parses to the same values and `gatehouse evidence verify` accepts it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../../cli/program";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody, ORG_ID, operator, registerManifest } from "../../../test-support/http";

const UAPK = "printable-bot";
const HOSTILE_AGENT = "cust\u009b2Jomer";
const HOSTILE_NOTE = "a\u202eb\u200bc\u2028d\u2029e\u0085f\ufeffg\u007fh\u001bi\r\nj\u{e0041}k";

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

describe("gatehouse evidence get", () => {
  let g: TestGatehouse;
  let work: string;
  let interaction: string;

  beforeAll(async () => {
    g = await startTestGatehouse();
    work = mkdtempSync(join(tmpdir(), "gatehouse-evidence-get-"));
    await registerManifest(g, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Printable Bot" },
      capabilities: ["crm:note"],
      tools: { "crm:note": { connector: { type: "echo" } } },
    });
    // An agent_id holding U+009B is refused at the boundary now (spec/common.tsp): the CSI rides in the params.
    const action = { type: "crm", tool: "note", params: { note: HOSTILE_NOTE, who: HOSTILE_AGENT } };
    expect(
      (await agent(g).post("/api/v1/gateway/execute", { ...executeBody(UAPK, action), agent_id: HOSTILE_AGENT }))
        .status,
    ).toBe(400);
    const ran = await agent(g).post("/api/v1/gateway/execute", executeBody(UAPK, action));
    expect(ran.status, ran.text).toBe(200);
    interaction = ran.body.interaction_id;
  });

  afterAll(async () => {
    await g?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  it("escapes the agent's control and format characters, and the saved output still verifies", async () => {
    const got = await cli("evidence", "get", interaction, "--url", g.url, "--token", g.operatorToken, "--org", ORG_ID);
    expect(got.code, got.stderr).toBe(0);
    // Layout newlines are the only raw control character left; no format or separator character at all.
    expect(got.stdout.replaceAll("\n", "")).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    expect(got.stdout).toContain('"cust\\u009b2Jomer"');
    expect(got.stdout).toContain(
      "a\\u202eb\\u200bc\\u2028d\\u2029e\\u0085f\\ufeffg\\u007fh\\u001bi\\r\\nj\\udb40\\udc41k",
    );
    // Still JSON, holding what the API answers (each answer is signed anew: its time and signature differ).
    const bundle = JSON.parse(got.stdout);
    const answered = (await operator(g).get(`/interactions/${interaction}/evidence`)).body;
    expect(bundle.action).toEqual(answered.action);
    expect(bundle.proof.chain).toEqual(answered.proof.chain);
    expect(bundle.action.params.note).toBe(HOSTILE_NOTE);
    expect(JSON.stringify(bundle)).toContain(HOSTILE_AGENT);

    const file = join(work, "bundle.json");
    writeFileSync(file, `${got.stdout}\n`);
    const jwks = join(work, "jwks.json");
    writeFileSync(jwks, JSON.stringify(await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json())));
    const verified = await cli("evidence", "verify", file, "--jwks", jwks);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain("OK: evidence bundle verified");
  });

  it("the REST answer is escaped the same way, and saved as it comes it still verifies", async () => {
    // GET …/evidence streamed the agent's U+009B, U+202E and U+2028 raw in its JSON, while `evidence get` escaped them.
    const res = await operator(g).get(`/interactions/${interaction}/evidence`);
    expect(res.status).toBe(200);
    expect(res.text).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    expect(res.text).toContain('"cust\\u009b2Jomer"');
    expect(res.text).toContain(
      "a\\u202eb\\u200bc\\u2028d\\u2029e\\u0085f\\ufeffg\\u007fh\\u001bi\\r\\nj\\udb40\\udc41k",
    );
    // Still the same values.
    expect(res.body.action.params.note).toBe(HOSTILE_NOTE);
    expect(res.body.action.params.who).toBe(HOSTILE_AGENT);

    const file = join(work, "rest-bundle.json");
    writeFileSync(file, res.text);
    const jwks = join(work, "rest-jwks.json");
    writeFileSync(jwks, JSON.stringify(await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json())));
    const verified = await cli("evidence", "verify", file, "--jwks", jwks);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain("OK: evidence bundle verified");
  });
});
