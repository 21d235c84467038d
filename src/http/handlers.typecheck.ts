// Type-level tests, checked by `tsc` (make typecheck), never run: the server's handler object must be total.
// If one of these stops holding, a missing handler would answer 501 at run time instead of failing the build.
import type { HandlerGroup, Handlers, OperationId } from "./handlers";

declare const all: Handlers;

// Removing one handler from a complete handler object fails `tsc`.
const { Gateway_execute: _removed, ...withoutExecute } = all;
// @ts-expect-error Gateway_execute is missing: not a Handlers any more.
export const incomplete: Handlers = withoutExecute;

// …and that holds for every operation of the spec, not only the one above.
type RemovableWithoutError = { [K in OperationId]: Omit<Handlers, K> extends Handlers ? K : never }[OperationId];
export const noOperationMayBeMissing: [RemovableWithoutError] extends [never] ? true : false = true;

// A face's group cannot name an operation the spec does not have.
export const typo = {
  // @ts-expect-error not an operation of the spec
  Gateway_exec: async () => ({ status: 200 as const, body: {} }),
} satisfies HandlerGroup;

// A handler cannot answer a status its operation does not declare.
export const wrongStatus = {
  // @ts-expect-error Purutos_list declares no 201
  Purutos_list: async () => ({ status: 201 as const, body: { status: "ok" as const, count: 0, items: [] } }),
} satisfies HandlerGroup;
