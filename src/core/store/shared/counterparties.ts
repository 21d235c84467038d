// Known counterparties in the shared store (NEW_COUNTERPARTY escalates only the first time, on any node).
import type { AnyKysely } from "../postgres";

export interface SharedCounterparties {
  isKnown(orgId: string, uapkId: string, counterparty: string): Promise<boolean>;
  remember(orgId: string, uapkId: string, counterparty: string, at: Date): Promise<void>;
}

const normalize = (counterparty: string) => counterparty.trim().toLowerCase();

export function createSharedCounterparties(db: AnyKysely): SharedCounterparties {
  return {
    async isKnown(orgId, uapkId, counterparty) {
      const row = await db
        .selectFrom("known_counterparties")
        .select("org_id")
        .where("org_id", "=", orgId)
        .where("uapk_id", "=", uapkId)
        .where("counterparty", "=", normalize(counterparty))
        .executeTakeFirst();
      return row !== undefined;
    },
    async remember(orgId, uapkId, counterparty, at) {
      await db
        .insertInto("known_counterparties")
        .values({ org_id: orgId, uapk_id: uapkId, counterparty: normalize(counterparty), first_seen: at.toISOString() })
        .onConflict((oc) => oc.doNothing())
        .execute();
    },
  };
}
