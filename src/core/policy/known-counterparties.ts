// Counterparties a manifest has already dealt with, for NEW_COUNTERPARTY. A counterparty becomes known
// when an action with it is executed successfully (possibly after a human approved it), never on evaluate.
// Stored and looked up in the policy's one normal form (./normalize.ts), as the counterparty check compares.
import { normalizeValue } from "./normalize";
import type { Db } from "../store/sqlite";

export class KnownCounterparties {
  // Prepared once: both run on the action hot path.
  private readonly knownStmt;
  private readonly rememberStmt;

  constructor(db: Db) {
    this.knownStmt = db.prepare(
      `SELECT 1 FROM known_counterparties WHERE org_id = ? AND uapk_id = ? AND counterparty = ?`,
    );
    this.rememberStmt = db.prepare(`INSERT INTO known_counterparties VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`);
  }

  isKnown(orgId: string, uapkId: string, counterparty: string): boolean {
    return this.knownStmt.get(orgId, uapkId, normalize(counterparty)) !== undefined;
  }

  remember(orgId: string, uapkId: string, counterparty: string, at: Date): void {
    this.rememberStmt.run(orgId, uapkId, normalize(counterparty), at.toISOString());
  }
}

/** A single recipient's normal form; a value that is refused or hides several is kept whole (never matches one). */
function normalize(counterparty: string): string {
  const { whole, parts } = normalizeValue(counterparty);
  const [only] = parts;
  return parts.length === 1 && only?.ok ? only.value : whole;
}
