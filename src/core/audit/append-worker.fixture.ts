// Test fixture: a separate OS process appending to the same SQLite file (see audit-log.multiprocess.test.ts).
// Usage: tsx append-worker.fixture.ts FILE ORG COUNT BARRIER_DIR
// Announces itself with BARRIER_DIR/ready-<pid>, starts when BARRIER_DIR/go exists, so both workers overlap.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../store/sqlite";
import { createAuditLog, newInteractionId } from "./audit-log";

const [file, org, count, barrier] = process.argv.slice(2);
if (file === undefined || org === undefined || count === undefined || barrier === undefined) {
  throw new Error("usage: tsx append-worker.fixture.ts FILE ORG COUNT BARRIER_DIR");
}
const log = createAuditLog(openDatabase(file));
writeFileSync(join(barrier, `ready-${process.pid}`), "");
while (!existsSync(join(barrier, "go"))) await new Promise((resolve) => setTimeout(resolve, 5));
for (let i = 0; i < Number(count); i += 1) {
  log.appendDecision({
    org_id: org,
    interaction_id: newInteractionId(),
    uapk_id: "u",
    agent_id: `pid-${process.pid}`,
    action: { type: "email", tool: "send", params: { i } },
    decision: "DENY",
    reasons: [{ code: "BUDGET_EXCEEDED", message: "test" }],
    policy_trace: null,
  });
  // Pause between appends (≥ 150 ms in all, far longer than the 5 ms start-up poll) so the two processes
  // overlap on a loaded machine too, and the other one gets the write lock in between.
  await new Promise((resolve) => setTimeout(resolve, 1));
}
