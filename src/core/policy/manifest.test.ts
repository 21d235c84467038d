import { mkdtempSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decide } from "./pipeline";
import { loadManifestDir } from "./manifest-loader";
import { InvalidManifestError, ManifestConflictError } from "./manifest-repository";
import { validateManifest } from "./manifest-validation";
import { engine, emailRequest, ORG, supportBot } from "./test-fixtures";

describe("manifest validation", () => {
  it("accepts the seed's bot", () => {
    expect(validateManifest(supportBot())).toEqual([]);
  });

  it("lists every problem at once", () => {
    const problems = validateManifest({
      uapk_id: "broken-bot",
      agent: { id: "broken-bot" },
      capabilities: ["email-send", "crm:read"],
      constraints: { require_human_approval: ["crm:delete"] },
      policy: { amount_threshold: { amount: 100 }, jurisdiction_blocklist: ["Germany"] },
      tools: { "crm:write": { connector: { type: "ftp" } } },
    });
    expect(problems.map((p) => p.pointer)).toEqual([
      "/agent/name",
      "/capabilities/0",
      "/tools/crm:read",
      "/tools/crm:write",
      "/tools/crm:write/connector/type",
      "/constraints/require_human_approval/0",
      "/policy/jurisdiction_blocklist/0",
      "/policy/amount_threshold/currency",
    ]);
  });

  it("takes the operator's only-declared switches as booleans alone", () => {
    const bot = supportBot();
    const tool = { ...bot.tools["email:send"]!, recipient_params_only: "yes", amount_params_only: 1 };
    const problems = validateManifest({ ...bot, tools: { ...bot.tools, "email:send": tool } } as never);
    expect(problems.map((p) => [p.pointer, p.message])).toEqual([
      ["/tools/email:send/recipient_params_only", "recipient_params_only must be a boolean"],
      ["/tools/email:send/amount_params_only", "amount_params_only must be a boolean"],
    ]);
    const fine = { ...bot.tools["email:send"]!, recipient_params_only: true, amount_params_only: false };
    expect(validateManifest({ ...bot, tools: { ...bot.tools, "email:send": fine } })).toEqual([]);
  });
});

describe("manifest repository", () => {
  it("a manifest registered through the repository works in the engine, and lifecycle moves are enforced", async () => {
    const e = await engine();
    const m = e.manifests.register(ORG, supportBot());
    expect(m.status).toBe("active");
    expect((await decide(ORG, emailRequest(), e.deps)).decision).toBe("ALLOW");
    expect(() => e.manifests.register(ORG, supportBot())).toThrow(ManifestConflictError);
    expect(() => e.manifests.register(ORG, supportBot({ capabilities: ["bad"] }))).toThrow(InvalidManifestError);
    e.manifests.setStatus(ORG, m.manifest_id, "suspended");
    expect((await decide(ORG, emailRequest(), e.deps)).reasons[0]?.code).toBe("MANIFEST_INACTIVE");
    e.manifests.setStatus(ORG, m.manifest_id, "revoked");
    expect(() => e.manifests.setStatus(ORG, m.manifest_id, "active")).toThrow(ManifestConflictError);
    expect(e.manifests.get("other-org", m.manifest_id)).toBeUndefined();
  });

  it("keeps a client-chosen manifest id (GitOps), unique in its org and well-formed", async () => {
    const e = await engine();
    const id = "880e8400-e29b-41d4-a716-446655440003";
    const m = e.manifests.register(ORG, { ...supportBot(), manifest_id: id });
    expect(m.manifest_id).toBe(id);
    expect(e.manifests.get(ORG, id)?.uapk_id).toBe("customer-support-bot");
    expect(e.manifests.upsert(ORG, { ...supportBot(), manifest_id: id }).manifest_id).toBe(id);
    expect(() => e.manifests.upsert(ORG, { ...supportBot(), manifest_id: "another-id" })).toThrow(
      ManifestConflictError,
    );
    // Ids are per org: another org may choose the same id, and gets its own manifest.
    expect(e.manifests.register("other-org", { ...supportBot(), manifest_id: id }).org_id).toBe("other-org");
    expect(e.manifests.get(ORG, id)?.org_id).toBe(ORG);
    expect(() => e.manifests.register(ORG, { ...supportBot(), uapk_id: "other", manifest_id: id })).toThrow(
      ManifestConflictError,
    );
    expect(() => e.manifests.register("other-org", { ...supportBot(), manifest_id: "../x" })).toThrow(
      InvalidManifestError,
    );
  });

  it("a file (GitOps upsert) naming another agent.id for a registered uapk_id is refused; the agent stays", async () => {
    const e = await engine();
    const m = e.manifests.register(ORG, supportBot());
    const renamed = { ...supportBot(), agent: { ...supportBot().agent, id: "another-agent" } };
    expect(() => e.manifests.upsert(ORG, renamed)).toThrow(/agent\.id never changes/);
    expect(e.manifests.get(ORG, m.manifest_id)?.agent.id).toBe(supportBot().agent.id);
    expect(e.manifests.versions(ORG, m.manifest_id)).toHaveLength(1);
  });
});

describe("loadManifestDir", () => {
  it("loads the example YAML and a JSON file, and reports a broken file without stopping", async () => {
    const dir = mkdtempSync(join(tmpdir(), "manifests-"));
    copyFileSync(
      join(__dirname, "../../../examples/manifests/customer-support-bot.yaml"),
      join(dir, "customer-support-bot.yaml"),
    );
    writeFileSync(
      join(dir, "notes.json"),
      JSON.stringify(supportBot({ uapk_id: "notes-bot", agent: { id: "notes-bot", name: "Notes" } })),
    );
    writeFileSync(join(dir, "broken.yml"), "uapk_id: broken\ncapabilities: [nope]\n");
    writeFileSync(join(dir, "README.md"), "not a manifest");
    const e = await engine();
    const report = loadManifestDir(dir, e.manifests, ORG);
    expect(report.loaded.map((m) => m.uapk_id).sort()).toEqual(["customer-support-bot", "notes-bot"]);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]?.file).toContain("broken.yml");
    const bot = e.manifests.getByUapkId(ORG, "customer-support-bot")!;
    expect(bot.constraints).toEqual({ max_actions_per_hour: 100, require_human_approval: ["crm:delete"] });
    const del = await decide(ORG, emailRequest({ action: { type: "crm", tool: "delete", params: {} } }), e.deps);
    expect(del.reasons.map((r) => r.code)).toEqual(["REQUIRES_APPROVAL"]);
    // Loading again updates in place (GitOps), never duplicates.
    expect(loadManifestDir(dir, e.manifests, ORG).loaded).toHaveLength(2);
    expect(e.manifests.list(ORG)).toHaveLength(2);
  });
});
