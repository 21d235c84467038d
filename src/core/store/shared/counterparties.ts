// Known counterparties in the shared store (NEW_COUNTERPARTY escalates only the first time, on any node), in the
// same normal form as the embedded store's (src/core/policy/known-counterparties.ts).
import {
  counterpartyKey,
  MAX_KNOWN_COUNTERPARTIES,
  normalizeCounterparty as normalize,
} from "../../policy/known-counterparties";
import type { AnyKysely } from "../postgres";

export interface SharedCounterparties {
  isKnown(orgId: string, uapkId: string, counterparty: string): Promise<boolean>;
  /** Those of an action's counterparties not stored yet, in order: one select per LOOKUP_BATCH, not one each. */
  unknownAmong(orgId: string, uapkId: string, counterparties: readonly string[]): Promise<string[]>;
  remember(orgId: string, uapkId: string, counterparty: string, at: Date): Promise<void>;
  /** All of an action's counterparties at once: one insert per REMEMBER_BATCH new ones, not one per counterparty. */
  rememberAll(orgId: string, uapkId: string, counterparties: readonly string[], at: Date): Promise<void>;
}

/**
 * New counterparties per insert. An action may name up to ~10,000 recipients; remembered one round trip each, an
 * ALLOWed action with 5,000 of them held its request (and a pooled connection) for ~20 s on PostgreSQL. 4 parameters
 * a row keeps a batch far below PostgreSQL's 65,535 bind parameters.
 */
const REMEMBER_BATCH = 1000;

/**
 * Counterparties per select of `unknownAmong`. Asked one round trip each, the NEW_COUNTERPARTY check of an action
 * naming 5,000 new recipients took ~8.6 s on PostgreSQL before it could answer. A batch is one bind parameter each.
 */
const LOOKUP_BATCH = 1000;

export function createSharedCounterparties(db: AnyKysely): SharedCounterparties {
  // Counterparties this node has seen stored. Rows are only ever added (never deleted), so once stored a
  // counterparty stays known: a member of this set needs no round trip, to read or to remember. Unknown ones
  // are always asked of the database (another node may have stored them meanwhile).
  // Bounded as the embedded store's set: past it the set starts over (only a cost, never a wrong answer).
  const stored = new Set<string>();
  const keyOf = (orgId: string, uapkId: string, counterparty: string) =>
    counterpartyKey(orgId, uapkId, normalize(counterparty));
  const note = (key: string) => {
    if (stored.size >= MAX_KNOWN_COUNTERPARTIES) stored.clear();
    stored.add(key);
  };
  return {
    async isKnown(orgId, uapkId, counterparty) {
      const key = keyOf(orgId, uapkId, counterparty);
      if (stored.has(key)) return true;
      const row = await db
        .selectFrom("known_counterparties")
        .select("org_id")
        .where("org_id", "=", orgId)
        .where("uapk_id", "=", uapkId)
        .where("counterparty", "=", normalize(counterparty))
        .executeTakeFirst();
      if (row !== undefined) note(key);
      return row !== undefined;
    },
    async unknownAmong(orgId, uapkId, counterparties) {
      // Normal form → the values asked about with it (normally one), for those this node has not seen stored.
      const asked = new Map<string, string[]>();
      for (const counterparty of counterparties) {
        const normal = normalize(counterparty);
        if (stored.has(counterpartyKey(orgId, uapkId, normal))) continue;
        const same = asked.get(normal);
        if (same) same.push(counterparty);
        else asked.set(normal, [counterparty]);
      }
      const normals = [...asked.keys()];
      const found = new Set<string>();
      for (let i = 0; i < normals.length; i += LOOKUP_BATCH) {
        const rows = await db
          .selectFrom("known_counterparties")
          .select("counterparty")
          .where("org_id", "=", orgId)
          .where("uapk_id", "=", uapkId)
          .where("counterparty", "in", normals.slice(i, i + LOOKUP_BATCH))
          .execute();
        for (const { counterparty } of rows) {
          found.add(counterparty);
          note(counterpartyKey(orgId, uapkId, counterparty));
        }
      }
      const unknown = new Set<string>();
      for (const [normal, values] of asked) if (!found.has(normal)) for (const value of values) unknown.add(value);
      return counterparties.filter((c) => unknown.has(c));
    },
    async rememberAll(orgId, uapkId, counterparties, at) {
      const fresh = new Map<string, string>();
      for (const counterparty of counterparties) {
        const key = keyOf(orgId, uapkId, counterparty);
        if (!stored.has(key)) fresh.set(key, normalize(counterparty));
      }
      const entries = [...fresh];
      for (let i = 0; i < entries.length; i += REMEMBER_BATCH) {
        const batch = entries.slice(i, i + REMEMBER_BATCH);
        const first_seen = at.toISOString();
        await db
          .insertInto("known_counterparties")
          .values(batch.map(([, counterparty]) => ({ org_id: orgId, uapk_id: uapkId, counterparty, first_seen })))
          .onConflict((oc) => oc.doNothing())
          .execute();
        for (const [key] of batch) note(key);
      }
    },
    async remember(orgId, uapkId, counterparty, at) {
      const key = keyOf(orgId, uapkId, counterparty);
      if (stored.has(key)) return;
      await db
        .insertInto("known_counterparties")
        .values({ org_id: orgId, uapk_id: uapkId, counterparty: normalize(counterparty), first_seen: at.toISOString() })
        .onConflict((oc) => oc.doNothing())
        .execute();
      note(key);
    },
  };
}
