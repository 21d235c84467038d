// Every message example in the AsyncAPI document validates against the generated JSON Schema of its
// message — the schemas the gateway itself uses at runtime and the typed WS client is generated from.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Parser, fromFile } from "@asyncapi/parser";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { record } from "./coverage";
import { must } from "../src/core/must";

const root = resolve(import.meta.dirname, "..");
const index = JSON.parse(readFileSync(resolve(root, "generated/messages/index.json"), "utf8")) as Record<
  string,
  { type: string }
>;
const { document } = await fromFile(new Parser(), resolve(root, "spec/sessions.asyncapi.yaml")).parse();
const examples = (document?.components().messages().all() ?? []).flatMap((m) =>
  m
    .examples()
    .all()
    .map((ex) => ({ message: m.id(), name: ex.name() ?? "(unnamed)", payload: ex.payload() })),
);
const ajv = new Ajv2020({ strict: false, allErrors: true });

describe("every WebSocket message example", () => {
  it("the document has examples for the seed's messages", () => {
    expect(examples.filter((e) => e.name.startsWith("seed002_")).length).toBeGreaterThanOrEqual(8);
  });
  it.each(examples.map((e) => [`${e.name} (${e.message})`, e] as const))("%s", (_label, e) => {
    const schema = JSON.parse(
      readFileSync(
        resolve(root, `generated/messages/${must(index[e.message], `route of ${e.message}`).type}.schema.json`),
        "utf8",
      ),
    );
    const validate = ajv.getSchema(schema.$id) ?? ajv.compile(schema);
    expect(validate(e.payload), JSON.stringify(validate.errors)).toBe(true);
    record("ws", `${e.message}:${e.name}`, "green");
  });
});
