// Manifests loaded from disk are held to the spec's ManifestInput schema by the same Ajv instance as a REST
// registration, and report the same {pointer, message} items.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadManifestDir } from "../core/policy/manifest-loader";
import { engine, ORG, supportBot } from "../core/policy/test-fixtures";
import { loadSpec } from "./spec";

const spec = loadSpec();
const checkSchema = (input: unknown) => spec.validateSchema("ManifestInput", input);

describe("manifest files and the spec's schema", () => {
  it("a valid manifest passes the schema check", () => {
    expect(spec.validateSchema("ManifestInput", supportBot())).toEqual([]);
  });

  it("skips a file with a field the spec does not know, naming it as the REST layer would", async () => {
    const dir = mkdtempSync(join(tmpdir(), "manifests-schema-"));
    writeFileSync(join(dir, "good.json"), JSON.stringify(supportBot()));
    writeFileSync(
      join(dir, "typo.json"),
      JSON.stringify({ ...supportBot({ uapk_id: "typo-bot" }), max_action_per_hour: 5 }),
    );
    const e = await engine();
    const report = loadManifestDir(dir, e.manifests, ORG, { checkSchema });
    expect(report.loaded.map((m) => m.uapk_id)).toEqual(["customer-support-bot"]);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatchObject({
      file: expect.stringContaining("typo.json"),
      errors: [{ pointer: "/max_action_per_hour", message: 'unknown field "max_action_per_hour" is not allowed' }],
    });
    expect(e.manifests.getByUapkId(ORG, "typo-bot")).toBeUndefined();
  });
});
