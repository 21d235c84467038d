// How the live answers of the replay, chain-head and evidence examples are compared with the documented ones:
// every field a user relies on, ids and clocks aside (sample interaction ids are per run; their number is not).
import { expect } from "vitest";
import type { components } from "../generated/api-types";
import { sha256Canonical } from "../src/core/audit/canonical";
import { type Comparison, withoutVolatile } from "./comparison";

type Schemas = components["schemas"];

const HEX64 = /^[0-9a-f]{64}$/;

const chainHead: Comparison = (documented, live) => {
  const want = documented as Schemas["ChainHead"];
  const got = live as Schemas["ChainHead"];
  expect({ type: got.type, org_id: got.org_id, seq: got.seq }).toEqual({
    type: want.type,
    org_id: want.org_id,
    seq: want.seq,
  });
  expect(got.hash).toMatch(HEX64);
  expect(got.kid.length).toBeGreaterThan(0);
  expect(got.signature).toMatch(/^[A-Za-z0-9_-]{80,}$/);
};

/** Sample ids are this run's; how many there are is compared. */
const samplesCounted = (items: { sample_interaction_ids: string[] }[]) =>
  items.map(({ sample_interaction_ids, ...rest }) => ({ ...rest, samples: sample_interaction_ids.length }));

const replayReport: Comparison = (documented, live) => {
  const want = documented as Schemas["ReplayReport"];
  const got = live as Schemas["ReplayReport"];
  const { elapsed_ms: _w, matrix: wm, reason_changes: wr, ...wantRest } = want;
  const { elapsed_ms, matrix, reason_changes, ...gotRest } = got;
  expect(withoutVolatile(gotRest)).toEqual(withoutVolatile(wantRest));
  expect(samplesCounted(matrix)).toEqual(samplesCounted(wm));
  expect(samplesCounted(reason_changes)).toEqual(samplesCounted(wr));
  expect(elapsed_ms).toBeGreaterThanOrEqual(0);
};

const evidenceBundle: Comparison = (documented, live) => {
  const want = documented as Schemas["EvidenceBundle"];
  const got = live as Schemas["EvidenceBundle"];
  const pick = (b: Schemas["EvidenceBundle"]) => ({
    format: b.format,
    org_id: b.org_id,
    uapk_id: b.uapk_id,
    agent_id: b.agent_id,
    action: b.action,
    decision: b.decision.decision,
    reasons: b.decision.reasons,
    manifest: withoutVolatile(b.manifest),
    outcome: withoutVolatile({ ...b.outcome, recorded_at: undefined }),
    involved_seqs: b.proof.involved_seqs,
    head: { seq: b.proof.chain_head.seq, type: b.proof.chain_head.type },
  });
  expect(pick(got)).toEqual(pick(want));
  const signed = got.decision.policy_trace?.checks.find((c) => c.check === "manifest_validation");
  expect(withoutVolatile(signed)).toEqual(withoutVolatile(want.decision.policy_trace?.checks[0]));
  expect(sha256Canonical(got.manifest?.content)).toBe(got.manifest?.content_hash);
  expect(got.proof.chain.map((r) => r.seq)).toEqual([1, 2]);
};

export const evidenceExpectations: Record<string, Comparison> = {
  gatehouse_chain_head: chainHead,
  gatehouse_replay_tightening: replayReport,
  gatehouse_evidence: evidenceBundle,
};
