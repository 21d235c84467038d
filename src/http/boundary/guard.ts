// Authorization before validation. Who may call an operation is decided right after authentication, before the
// body is read and before the path, query or body is validated: a caller without the right (another org's key,
// a token without the role) learns 403 and nothing else — not whether its body, ids or command would have been
// valid, and it cannot make us read or parse a body it may not send. Each rule is a guard, given to the router
// once; the router runs the guards of an operation in that order for every request to it.
import type { Principal } from "../../core/identity/principal";
import type { OperationSpec } from "../spec";

export interface RouteGuard {
  /** Decided once per operation when the routes are built. */
  appliesTo(op: Pick<OperationSpec, "operationId" | "path">): boolean;
  /** Throws a 403 HttpProblem when the caller may not call it; `params` are the raw, unvalidated path params. */
  check(principal: Principal, params: Readonly<Record<string, string | undefined>>): void;
}
