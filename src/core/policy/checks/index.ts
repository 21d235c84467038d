// The fixed order of the pipeline (see ../pipeline.ts). Changing it changes which reason wins. Each check
// declares the facts it needs; the pipeline refuses to run one whose needs no earlier check provided.
import type { PolicyCheck } from "../policy-check";
import { actionTypeCheck } from "./action-type";
import { amountThresholdCheck } from "./amount-threshold";
import { approvalCheck } from "./approval";
import { budgetCheck } from "./budget";
import { capabilityTokenCheck } from "./capability-token";
import { counterpartyCheck } from "./counterparty";
import { jurisdictionCheck } from "./jurisdiction";
import { manifestCheck } from "./manifest";
import { toolAuthorizationCheck } from "./tool-authorization";

export const POLICY_CHECKS: readonly PolicyCheck[] = [
  manifestCheck,
  capabilityTokenCheck,
  actionTypeCheck,
  toolAuthorizationCheck,
  amountThresholdCheck,
  counterpartyCheck,
  jurisdictionCheck,
  budgetCheck,
  approvalCheck,
];
