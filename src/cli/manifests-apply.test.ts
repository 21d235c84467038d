// `gatehouse manifests apply <dir>` against a real Gatehouse: a new file is registered, a changed file updates its
// manifest (PUT, a new version) and exits 0 — it used to print `update` then fail with POST 409 already registered.
// A field removed from a file is a change too (it used to be compared on the file's own keys only), an unchanged
// folder writes nothing, and --dry-run only says what it would do.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { stringify } from "yaml";
import { startTestGatehouse, type TestGatehouse } from "../../contract-tests/fixtures";
import { operator } from "../test-support/http";
import { runCli } from "./program";

let g: TestGatehouse;
const dir = mkdtempSync(join(tmpdir(), "apply-"));
const bot = (extra: Record<string, unknown> = {}) => ({
  manifest_id: "apply-bot-id",
  uapk_id: "apply-bot",
  agent: { id: "apply-bot", name: "Apply Bot" },
  capabilities: ["crm:read"],
  tools: { "crm:read": { connector: { type: "echo" } } },
  ...extra,
});

beforeAll(async () => {
  g = await startTestGatehouse();
});
afterAll(async () => {
  await g?.dispose();
});

async function apply(...flags: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const args = ["manifests", "apply", dir, "--url", g.url, "--token", g.operatorToken, "--org", g.orgId, ...flags];
  const code = await runCli(args, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, out, err };
}
const versions = async () =>
  ((await operator(g).get("/manifests/apply-bot-id/versions")).body.items as { change: string }[]).map((v) => v.change);

it("registers a folder, then updates the changed file (exit 0, a new version), then writes nothing", async () => {
  writeFileSync(join(dir, "apply-bot.yaml"), stringify(bot({ constraints: { max_actions_per_hour: 100 } })));
  expect(await apply()).toMatchObject({
    code: 0,
    out: ["create: apply-bot (apply-bot.yaml), manifest_id apply-bot-id"],
  });

  writeFileSync(join(dir, "apply-bot.yaml"), stringify(bot({ constraints: { max_actions_per_hour: 5 } })));
  const dry = await apply("--dry-run");
  expect(dry).toMatchObject({
    code: 0,
    out: ["would update (constraints): apply-bot (apply-bot.yaml), manifest_id apply-bot-id"],
  });
  expect(await versions()).toEqual(["registered"]);

  const updated = await apply();
  expect(updated.err).toEqual([]);
  expect(updated).toMatchObject({
    code: 0,
    out: ["update (constraints): apply-bot (apply-bot.yaml), manifest_id apply-bot-id"],
  });
  expect(await versions()).toEqual(["registered", "updated"]);
  const stored = (await operator(g).get("/manifests/apply-bot-id")).body;
  expect(stored.constraints).toEqual({ max_actions_per_hour: 5 });

  expect(await apply()).toMatchObject({
    code: 0,
    out: ["unchanged: apply-bot (apply-bot.yaml), manifest_id apply-bot-id"],
  });
  expect(await versions()).toEqual(["registered", "updated"]);
});

it("names the manifest_id the server gave a file without one: the id of GET …/manifests/{id}/versions", async () => {
  const other = mkdtempSync(join(tmpdir(), "apply-"));
  const { manifest_id: _, ...withoutId } = bot({ uapk_id: "apply-bot-2", agent: { id: "apply-bot-2", name: "B" } });
  writeFileSync(join(other, "apply-bot-2.yaml"), stringify(withoutId));
  const out: string[] = [];
  const args = ["manifests", "apply", other, "--url", g.url, "--token", g.operatorToken, "--org", g.orgId];
  expect(await runCli(args, { stdout: (l) => out.push(l), stderr: () => {} })).toBe(0);
  const id = /^create: apply-bot-2 \(apply-bot-2\.yaml\), manifest_id (\S+)$/.exec(out.join("\n"))?.[1];
  expect(id, out.join("\n")).toBeDefined();
  const history = await operator(g).get(`/manifests/${id}/versions`);
  expect(history.status).toBe(200);
  expect(history.body.items.map((v: { change: string }) => v.change)).toEqual(["registered"]);
});

it("a field removed from the file is a change", async () => {
  writeFileSync(join(dir, "apply-bot.yaml"), stringify(bot()));
  expect(await apply()).toMatchObject({
    code: 0,
    out: ["update (constraints): apply-bot (apply-bot.yaml), manifest_id apply-bot-id"],
  });
  expect((await operator(g).get("/manifests/apply-bot-id")).body.constraints).toBeUndefined();
  expect(await versions()).toEqual(["registered", "updated", "updated"]);
});
