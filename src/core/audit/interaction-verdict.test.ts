// The record an interaction is shown by (GET …/interactions/{id}): its verdict, whatever was appended after it.
import { describe, expect, it } from "vitest";
import { interactionVerdict } from "./interaction-verdict";
import type { AuditRecord, AuditRecordKind } from "./record";

/** An interaction's records of these kinds, in chain order (only kind and seq matter here). */
const interaction = (...kinds: AuditRecordKind[]) =>
  kinds.map((kind, i) => ({ kind, seq: i + 1 }) as unknown as AuditRecord);

const shownKind = (...kinds: AuditRecordKind[]) => {
  const shown = interactionVerdict(interaction(...kinds));
  return shown && `${shown.kind}@${shown.seq}`;
};

describe("interactionVerdict", () => {
  it("an escalated interaction is shown by its decision, not by the approval's verdict nor a refused attempt", () => {
    expect(shownKind("decision", "refusal")).toBe("decision@1");
    expect(shownKind("decision", "approval")).toBe("decision@1");
    expect(shownKind("decision", "refusal", "approval", "refusal")).toBe("decision@1");
  });

  it("an executed one by its outcome, one still running (or cut short) by its intent, a DENY by its decision", () => {
    expect(shownKind("intent", "outcome")).toBe("outcome@2");
    expect(shownKind("intent")).toBe("intent@1");
    expect(shownKind("decision")).toBe("decision@1");
  });

  it("a capability token's interaction by its latest record; none for no records", () => {
    expect(shownKind("token_issued")).toBe("token_issued@1");
    expect(shownKind("token_issued", "token_revoked")).toBe("token_revoked@2");
    expect(interactionVerdict([])).toBeUndefined();
  });
});
