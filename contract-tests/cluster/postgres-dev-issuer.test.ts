// The built-in identity provider of a cluster: on PostgreSQL its key lives in the shared store beside the other
// signing keys (sealed with GATEHOUSE_SECRET), not in a node's data folder. Two nodes with data folders of their
// own accept each other's tokens, publish the same key, and `gatehouse token` run against the cluster's
// DATABASE_URL mints a token both accept.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/program";
import { createTestPgDatabase, postgresForTests, type TestPgDatabase } from "../../src/core/store/test-support";
import { startTestGatehouse, type TestGatehouse } from "../fixtures";
import { CLUSTER_SECRET } from "./nodes";

const pgAdmin = await postgresForTests("PostgreSQL dev issuer");

/** An operator call with a bearer token: 200 when the node accepts the token. */
async function approvalsWith(node: TestGatehouse, token: string): Promise<number> {
  const res = await fetch(`${node.url}/api/v1/orgs/${node.orgId}/approvals`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await res.arrayBuffer();
  return res.status;
}

describe.runIf(pgAdmin)("dev issuer shared on PostgreSQL", () => {
  let database: TestPgDatabase;
  let a: TestGatehouse;
  let b: TestGatehouse;

  beforeAll(async () => {
    database = await createTestPgDatabase(pgAdmin!);
    // No shared GATEHOUSE_DATA_DIR: each node has its own data folder, as separate machines would.
    const env = { DATABASE_URL: database.url, GATEHOUSE_SECRET: CLUSTER_SECRET };
    a = await startTestGatehouse({ env });
    b = await startTestGatehouse({ env });
  });
  afterAll(async () => {
    await a?.dispose();
    await b?.dispose();
    await database?.drop();
  });

  it("a token minted by node A is accepted by node B, and the other way round", async () => {
    const fromA = await a.userTokenFor(a.orgId, "ops-a@acme.example");
    const fromB = await b.userTokenFor(b.orgId, "ops-b@acme.example");
    expect(await approvalsWith(b, fromA)).toBe(200);
    expect(await approvalsWith(a, fromB)).toBe(200);
    // A token signed by another key is still refused (the shared key is the only one trusted).
    const forged = `${fromA.slice(0, fromA.lastIndexOf(".") + 1)}${"A".repeat(86)}`;
    expect(await approvalsWith(b, forged)).toBe(401);
  });

  it("both nodes publish the same issuer key in their JWKS", async () => {
    const kids = async (node: TestGatehouse) =>
      ((await fetch(`${node.url}/.well-known/jwks.json`).then((r) => r.json())) as { keys: { kid: string }[] }).keys
        .map((k) => k.kid)
        .sort();
    const issuerKid = a.devIssuer!.publicJwk().kid;
    expect(b.devIssuer!.publicJwk().kid).toBe(issuerKid);
    expect(await kids(a)).toContain(issuerKid);
    expect(await kids(a)).toEqual(await kids(b));
  });

  it("the key is in the shared store, sealed: no plaintext private key in the database", async () => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT kid, private_pkcs8 FROM signing_keys WHERE purpose = 'dev-issuer' AND status = 'active'",
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].kid).toBe(a.devIssuer!.publicJwk().kid);
      expect(rows[0].private_pkcs8).toMatch(/^aes256gcm\.v1:/);
      expect(rows[0].private_pkcs8).not.toContain("PRIVATE KEY");
    } finally {
      await client.end();
    }
  });

  it("`gatehouse token` against the cluster's DATABASE_URL mints a token both nodes accept", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { DATABASE_URL: database.url, GATEHOUSE_SECRET: CLUSTER_SECRET, LOG_LEVEL: "silent" });
    const out: string[] = [];
    const err: string[] = [];
    let code: number;
    try {
      code = await runCli(["token", "--sub", "cli@acme.example", "--org", a.orgId, "--role", "operator"], {
        stdout: (line) => out.push(line),
        stderr: (line) => err.push(line),
      });
    } finally {
      for (const key of ["DATABASE_URL", "GATEHOUSE_SECRET", "LOG_LEVEL"]) {
        if (saved[key] === undefined) delete process.env[key];
        else process.env[key] = saved[key];
      }
    }
    expect(code, err.join("\n")).toBe(0);
    const token = out.join("").trim();
    expect(await approvalsWith(a, token)).toBe(200);
    expect(await approvalsWith(b, token)).toBe(200);
  });
});
