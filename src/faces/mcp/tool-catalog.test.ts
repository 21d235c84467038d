// The names the MCP face lists: each within what MCP clients and the model APIs behind them accept, each one
// calling the capability it was listed for.
import { describe, expect, it } from "vitest";
import type { Manifest } from "../../core/policy/types";
import { capabilityForToolName, MAX_TOOL_NAME_LENGTH, manifestTools } from "./tool-catalog";

function manifestWith(capabilities: string[]): Manifest {
  return {
    uapk_id: "bot",
    agent: { id: "bot", name: "Bot" },
    capabilities,
    tools: Object.fromEntries(capabilities.map((c) => [c, { connector: { type: "noop" } }])),
  } as unknown as Manifest;
}

const LONG = `payments.internal.settlement-reconciliation:${"x".repeat(60)}.batch_v2`;

describe("MCP tool names", () => {
  it("keeps type.tool for the usual capability", () => {
    const names = manifestTools(manifestWith(["email:send"])).map((t) => t.name);
    expect(names).toEqual(["email.send"]);
  });

  it("lists a capability longer than 64 characters under a short name that calls it", () => {
    const manifest = manifestWith([LONG, "email:send"]);
    const [long] = manifestTools(manifest);
    expect(long!.name.length).toBeLessThanOrEqual(MAX_TOOL_NAME_LENGTH);
    expect(long!.name).toMatch(/^[a-z0-9_.-]+$/);
    expect(long!.title).toBe(LONG);
    const [type, tool] = [LONG.slice(0, LONG.indexOf(":")), LONG.slice(LONG.indexOf(":") + 1)];
    expect(capabilityForToolName(manifest, long!.name)).toEqual({ type, tool });
    // The same name on every node and after a restart: it depends on the capability only.
    expect(manifestTools(manifestWith(["email:send", LONG])).find((t) => t.title === LONG)!.name).toBe(long!.name);
  });

  it("gives two capabilities with the same type.tool two names, each calling its own", () => {
    const manifest = manifestWith(["a.b:c", "a:b.c"]);
    const names = manifestTools(manifest).map((t) => t.name);
    expect(new Set(names).size).toBe(2);
    expect(names[0]).toBe("a.b.c");
    expect(capabilityForToolName(manifest, names[0]!)).toEqual({ type: "a.b", tool: "c" });
    expect(capabilityForToolName(manifest, names[1]!)).toEqual({ type: "a", tool: "b.c" });
  });
});
