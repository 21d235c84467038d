// The engine's manifest read is cached per row: what it returns must still follow every change to the row.
import { describe, expect, it } from "vitest";
import { decide } from "./pipeline";
import { engine, emailRequest, ORG, supportBot } from "./test-fixtures";
import { must } from "../must";

describe("manifest read by the engine", () => {
  it("follows a changed body and status, even though the parsed manifest is reused between reads", async () => {
    const e = await engine();
    const m = e.manifests.register(ORG, supportBot());
    const first = e.manifests.getByUapkId(ORG, "customer-support-bot");
    expect(e.manifests.getByUapkId(ORG, "customer-support-bot")).toBe(first); // unchanged row: reused

    // A new body (GitOps file edited): the next action sees it.
    e.manifests.upsert(
      ORG,
      supportBot({
        capabilities: ["crm:read"],
        constraints: {},
        tools: { "crm:read": { connector: { type: "echo" } } },
      }),
    );
    expect(e.manifests.getByUapkId(ORG, "customer-support-bot")?.capabilities).toEqual(["crm:read"]);
    expect((await decide(ORG, emailRequest(), e.deps)).decision).toBe("DENY");

    // A status change with the same body: seen too.
    e.manifests.setStatus(ORG, m.manifest_id, "suspended");
    expect(e.manifests.getByUapkId(ORG, "customer-support-bot")?.status).toBe("suspended");
  });

  it("hands out a frozen manifest: one caller cannot change what the next request is judged by", async () => {
    const e = await engine();
    e.manifests.register(ORG, supportBot());
    const shared = e.manifests.getByUapkId(ORG, "customer-support-bot")!;
    expect(() => shared.capabilities.push("payments:send")).toThrow(TypeError);
    expect(() => {
      must(shared.tools["email:send"], "the support bot sends email").connector.type = "http";
    }).toThrow(TypeError);
    expect(e.manifests.getByUapkId(ORG, "customer-support-bot")?.capabilities).not.toContain("payments:send");
  });
});
