// `gatehouse policy replay` finds the registered manifest of the candidate's agent on any page of the org's list:
// it used to read the first page only (100 manifests), and in a larger org said "no manifest registered" for an
// agent listed further on. A stand-in operator API here: two pages of manifests, and the replay of the one found.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runCli } from "./program";

const ORG = "org-many";
let server: Server;
let url: string;
const asked: string[] = [];

beforeAll(async () => {
  const page = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => ({ uapk_id: `bot-${from + i}`, manifest_id: `m-${from + i}` }));
  server = createServer((req, res) => {
    asked.push(`${req.method} ${req.url}`);
    const json = (body: unknown) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    const path = req.url ?? "";
    if (path.startsWith(`/api/v1/orgs/${ORG}/manifests?`))
      return json(
        path.includes("cursor=page-2") ? { items: page(500, 620) } : { items: page(0, 500), next_cursor: "page-2" },
      );
    if (path === `/api/v1/orgs/${ORG}/manifests/m-610/replay`)
      return json({
        manifest_id: "m-610",
        uapk_id: "bot-610",
        agent_id: "bot-610",
        current_version: 1,
        candidate_hash: "0".repeat(64),
        replayed: 0,
        truncated: false,
        changed: 0,
        loosening: 0,
        tightening: 0,
        matrix: [],
        reason_changes: [],
        elapsed_ms: 1,
        notes: ["The money budget of the hour from 2024-12-14T10:00:00.000Z is seeded without 1 recorded action(s)"],
      });
    res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => server?.close());

it("finds the agent's manifest on the second page of the org's list, and replays that one", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "replay-")), "bot-610.json");
  writeFileSync(file, JSON.stringify({ uapk_id: "bot-610" }));
  const err: string[] = [];
  const out: string[] = [];
  const code = await runCli(["policy", "replay", file, "--url", url, "--token", "t", "--org", ORG], {
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
  });
  expect(err.join("\n")).not.toMatch(/no manifest/);
  expect(asked.filter((a) => a.includes("/replay"))).toEqual([`POST /api/v1/orgs/${ORG}/manifests/m-610/replay`]);
  expect(code, err.join("\n")).toBe(0);
  // What the recorded history could not tell the replay is printed with the matrix.
  expect(out).toContain(
    "note: The money budget of the hour from 2024-12-14T10:00:00.000Z is seeded without 1 recorded action(s)",
  );
});

it("a replay that cannot run exits 2, never the verdict's 1: an unknown agent, the API unreachable", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "replay-")), "nobody.json");
  writeFileSync(file, JSON.stringify({ uapk_id: "bot-nobody" }));
  const quiet = { stdout: () => {}, stderr: () => {} };
  expect(await runCli(["policy", "replay", file, "--url", url, "--token", "t", "--org", ORG], quiet)).toBe(2);
  const unreachable = ["policy", "replay", file, "--url", "http://127.0.0.1:9", "--token", "t", "--org", ORG];
  expect(await runCli(unreachable, quiet)).toBe(2);
});
