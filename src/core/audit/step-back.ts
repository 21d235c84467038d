// The append's side of the verifier's step-back rule (./verify.ts stepBackProblem): a record is never written that
// the chain's own verification would reject for good. One rule for both stores: the embedded chain (./audit-log.ts)
// and the shared one (src/core/store/shared/audit-chain.ts); the embedded one, with no database clock, also tells a
// clock that stepped back from a head stamped ahead (stampFor's witness).
import { ActionUnavailableError } from "../governance/types";
import type { AuditRecordKind } from "./record";

/** What the rule needs of a chain's head: its seq and its timestamp (epoch ms). */
export type HeadTime = { seq: number; ms: number };

/**
 * A record stamped more than the verifier's step back (stepBackToleranceFor) before its chain's head is refused,
 * before anything is written or executed: the chain's own verification would reject it for good ("… ms before that
 * of seq …"). Only a clock far off stamps so far back (a wall clock stepped back, an NTP step or `date -s`; on a
 * shared store the aligned clock follows the database's, src/clock-skew.ts), so the refusal is the node's clock's:
 * 503 CLOCK_SKEW.
 */
export function refuseStepBack(orgId: string, head: HeadTime | undefined, atMs: number, maxStepBackMs: number): void {
  if (head === undefined || Number.isNaN(head.ms) || head.ms - atMs <= maxStepBackMs) return;
  throw new ActionUnavailableError(
    `This node's clock stamps ${orgId}'s next audit record ${head.ms - atMs} ms before its head (seq ${head.seq}), ` +
      `more than the ${maxStepBackMs} ms the chain's verification allows: nothing was recorded or executed; retry ` +
      "once the clock is right, or on another node",
    "CLOCK_SKEW",
  );
}

/**
 * The kinds that record something already done: an outcome (the connector ran) and a refusal (an operator's attempt
 * at an approval was refused). Refusing to write one would not undo what it records, only lose its audit (an intent
 * left without its outcome while the caller is told it ran).
 */
const AFTER_THE_FACT: ReadonlySet<AuditRecordKind> = new Set<AuditRecordKind>(["outcome", "refusal"]);

/**
 * What the embedded store knows of its own clock, since there is no other clock to measure it against
 * (./audit-log.ts clockWitness): whether its wall clock, read at `atMs`, has stepped back during this process (it is
 * behind the time the process has counted on its monotonic clock since it started, from the wall clock it read then).
 */
export type ClockWitness = { steppedBack(atMs: number): boolean };

/**
 * The timestamp of a chain's next record of `kind`, the node's clock reading `at`. A record of something already done
 * is stamped no earlier than the head (max(now, head)): the chain stays verifiable (not before its head) and the
 * record is kept, when refusing it would lose it. A record written before the fact (an intent, a decision, an
 * approval's verdict, a token's issue or revocation, all in the transaction of what they record) stamped further
 * before the head than the verifier allows is refused by refuseStepBack instead (nothing runs), when the clock is to
 * blame: always on the shared store (no `witness`: its aligned clock follows the database's, src/clock-skew.ts).
 *
 * On the embedded store (`witness`) a head that far ahead is just as often the head's fault: a wall clock that jumped
 * forward (a VM resumed on a wrong RTC, a `date -s` typo) stamped it, and was corrected since. Refusing then locked
 * the org out until real time reached that stamp (a day, a year). So the refusal is kept for a clock the witness saw
 * step back during this process (retried once it is back); any other record is stamped at its head's time, as an
 * outcome is: timestamps never step back, the chain verifies, and from the moment real time passes the head the
 * records carry their own time again.
 */
export function stampFor(
  orgId: string,
  kind: AuditRecordKind,
  head: HeadTime | undefined,
  at: Date,
  maxStepBackMs: number,
  witness?: ClockWitness,
): Date {
  if (head === undefined || !(head.ms > at.getTime())) return at;
  if (AFTER_THE_FACT.has(kind)) return new Date(head.ms);
  if (head.ms - at.getTime() <= maxStepBackMs) return at;
  if (witness !== undefined && !witness.steppedBack(at.getTime())) return new Date(head.ms);
  refuseStepBack(orgId, head, at.getTime(), maxStepBackMs);
  return at;
}
