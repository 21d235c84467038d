// One signature per group commit. A record appended while a group commit runs (src/core/store/group-commit.ts) is
// inserted unsigned; before the group's COMMIT, the last record of each chain the group touched is signed. Its
// hash covers `prev_hash`, so that one signature proves every record before it (verify.ts checks that a chain
// never ends on an unsigned record). Under load a group holds tens of records: an Ed25519 signature each was the
// largest single cost of an execute after the HTTP stack.
import type { KeyObject } from "node:crypto";
import { type OpenGroup, openGroupOf } from "../store/group-commit";
import type { Db } from "../store/sqlite";
import type { AuditStatements } from "./audit-statements";
import { signBody } from "./record";

interface Unsigned {
  body: string;
  privateKey: KeyObject;
}

/** This group's unsigned appends, by chain (org) and seq. */
type GroupAppends = Map<string, Map<number, Unsigned>>;

/**
 * Returns `defer(record, body, key)`: true when the record was left for its group to sign (the caller inserts it
 * unsigned), false when no group is running (the caller signs it now).
 */
export function groupSigner(db: Db, statements: Pick<AuditStatements, "head" | "sign">) {
  const appendsOf = new WeakMap<OpenGroup, GroupAppends>();

  /** Signs each chain's head if this group wrote it (a unit rolled back may have taken the group's later records). */
  function signHeads(appends: GroupAppends): void {
    for (const [orgId, bySeq] of appends) {
      const head = statements.head.get({ org_id: orgId });
      const last = head && bySeq.get(head.seq);
      if (head && last)
        statements.sign.run({ signature: signBody(last.body, last.privateKey), org_id: orgId, seq: head.seq });
    }
  }

  return (record: { org_id: string; seq: number }, body: string, privateKey: KeyObject): boolean => {
    const group = openGroupOf(db);
    if (!group) return false;
    let appends = appendsOf.get(group);
    if (!appends) {
      const mine: GroupAppends = new Map();
      appends = mine;
      appendsOf.set(group, mine);
      group.beforeCommit(() => signHeads(mine));
    }
    let bySeq = appends.get(record.org_id);
    if (!bySeq) {
      bySeq = new Map();
      appends.set(record.org_id, bySeq);
    }
    bySeq.set(record.seq, { body, privateKey });
    return true;
  };
}
