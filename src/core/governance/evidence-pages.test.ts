// An evidence bundle's proof is read a page at a time while it is sent: the bundle of an interaction early in a long
// chain never holds the whole chain in memory nor reads it in one pass that stops every other request of the node.
import { describe, expect, it } from "vitest";
import type { AuditRecord, ChainHead } from "../audit";
import { EXPORT_PAGE_RECORDS } from "../audit/export-pages";
import { createEvidenceBuilder } from "./evidence";

const ORG = "org-pages";
const LENGTH = 2_500;

/** A chain of `LENGTH` records whose first one opens the interaction `int-first` (ALLOW, no manifest named). */
function chainOf(): AuditRecord[] {
  return Array.from({ length: LENGTH }, (_, i) => {
    const seq = i + 1;
    const first = seq === 1;
    return {
      seq,
      org_id: ORG,
      kind: first ? "decision" : "outcome",
      interaction_id: first ? "int-first" : `int-${seq}`,
      decision: first ? "ALLOW" : null,
      timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
      hash: `h${seq}`,
    } as unknown as AuditRecord;
  });
}

describe("evidence bundle proof, page by page", () => {
  it("reads the chain in pages of at most EXPORT_PAGE_RECORDS, letting other work run between pages", async () => {
    const chain = chainOf();
    const head = { seq: LENGTH, hash: `h${LENGTH}` } as unknown as ChainHead;
    const pagesAsked: number[] = [];
    let turnsSeen = 0;
    const build = createEvidenceBuilder({
      audit: {
        getInteraction: (_org, id) => chain.filter((r) => r.interaction_id === id),
        signedHead: () => head,
        chainPage: (_org, fromSeq, limit) => {
          pagesAsked.push(limit);
          // Other requests of the node: each page read must find the event loop has turned since the last one.
          setImmediate(() => turnsSeen++);
          return chain.slice(fromSeq - 1, fromSeq - 1 + limit);
        },
      },
      manifests: { version: () => undefined },
      tokens: { get: () => undefined },
    });

    const json = await build(ORG, "int-first");
    expect(json).toBeDefined();
    let text = "";
    for await (const chunk of json!) text += chunk;

    expect(pagesAsked.length).toBe(Math.ceil(LENGTH / EXPORT_PAGE_RECORDS));
    expect(Math.max(...pagesAsked)).toBeLessThanOrEqual(EXPORT_PAGE_RECORDS);
    expect(turnsSeen).toBeGreaterThanOrEqual(pagesAsked.length - 1);
    const bundle = JSON.parse(text);
    expect(bundle.proof.chain.map((r: AuditRecord) => r.seq)).toEqual(chain.map((r) => r.seq));
    expect(bundle.proof).toMatchObject({ involved_seqs: [1], chain_head: head });
    expect(bundle).toMatchObject({ interaction_id: "int-first", decision: { decision: "ALLOW" } });
  });

  it("answers undefined for an interaction the org's chain does not hold, reading no page", async () => {
    let pages = 0;
    const build = createEvidenceBuilder({
      audit: {
        getInteraction: () => [],
        signedHead: () => ({}) as ChainHead,
        chainPage: () => {
          pages++;
          return [];
        },
      },
      manifests: { version: () => undefined },
      tokens: { get: () => undefined },
    });
    expect(await build(ORG, "int-unknown")).toBeUndefined();
    expect(pages).toBe(0);
  });
});
