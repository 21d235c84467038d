// The seam between the spec-driven HTTP layer and the faces.
//
// Routes are not written by hand: src/http/router.ts walks generated/openapi.json, validates each request
// with Ajv, authenticates it from the operation's `security`, and calls the handler registered under the
// operation's operationId. The server's handler object is total (`Handlers`): a missing operation is a compile
// error. Only a test app that serves one face alone can reach the router's 501 for the others.
//
// Handlers are typed from generated/api-types.ts (with openapi-typescript-helpers, the helpers openapi-fetch uses): the compiler rejects a status or a body the spec does not
// declare for that operation. Errors are thrown as HttpProblem (src/http/problem.ts), not returned.
import { createHash } from "node:crypto";
import type {
  FilterKeys,
  MediaType,
  OkStatus,
  OperationRequestBodyContent,
  ResponseObjectMap,
} from "openapi-typescript-helpers";
import type { operations } from "../../generated/api-types";
import type { Principal } from "../core/identity/principal";

export type OperationId = keyof operations;

type Operation<K extends OperationId> = operations[K];
type Responses<K extends OperationId> = ResponseObjectMap<Operation<K>>;
/** The body of one response: its JSON (or problem+json) content; undefined when it has none (204). */
type BodyOf<R> = R extends { content: infer C } ? FilterKeys<C, MediaType> : undefined;
type Params<K extends OperationId, Where extends string> =
  Operation<K> extends {
    parameters: infer P;
  }
    ? P extends Record<Where, infer X>
      ? X extends undefined | never
        ? Record<string, never>
        : NonNullable<X>
      : Record<string, never>
    : Record<string, never>;

/** The validated JSON body; `undefined` is possible only when the spec makes the body optional. */
type RequestBody<K extends OperationId> = OperationRequestBodyContent<Operation<K>>;

/**
 * A JSON body serialised once and served many times as the same bytes (e.g. a list cached per discovery
 * snapshot). The HTTP layer sends `bytes` with `etag` as the ETag and answers a matching If-None-Match with
 * 304 — unless it was made `{ etag: false }` (an operation whose spec documents no 304, e.g. /health).
 * `value` is what the bytes encode, typed as the operation's body.
 */
export class SerializedJson<T> {
  readonly bytes: Buffer;
  readonly etag: string | undefined;

  constructor(
    readonly value: T,
    options: { etag?: boolean } = {},
  ) {
    this.bytes = Buffer.from(JSON.stringify(value), "utf8");
    // A strong validator of these exact bytes.
    this.etag =
      options.etag === false
        ? undefined
        : `"${createHash("sha256").update(this.bytes).digest("base64url").slice(0, 27)}"`;
  }
}

/** A 2xx reply; error statuses are thrown as HttpProblem. */
type SuccessStatus = OkStatus;

export type Reply<K extends OperationId> = {
  [S in keyof Responses<K> & SuccessStatus]: {
    status: S;
    body: BodyOf<Responses<K>[S]> | SerializedJson<BodyOf<Responses<K>[S]>>;
    headers?: Record<string, string>;
  };
}[keyof Responses<K> & SuccessStatus];

export interface OperationRequest<K extends OperationId> {
  params: Params<K, "path">;
  query: Params<K, "query">;
  /** Lower-cased request headers. */
  headers: Record<string, string | undefined>;
  /** The validated JSON body (undefined when the operation has none or it was omitted). */
  body: RequestBody<K>;
  principal: Principal;
  requestId: string;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

export type Handler<K extends OperationId> = (req: OperationRequest<K>) => Promise<Reply<K>> | Reply<K>;

/**
 * Every operation of the spec with its handler: the type of the composition root's handler object. It is total,
 * so an operation without a handler (a new one in the spec, or one removed by mistake) fails `tsc`
 * (see handlers.typecheck.ts) instead of answering 501 at run time.
 */
export type Handlers = { [K in OperationId]: Handler<K> };

/**
 * The handlers one face contributes (`{...} satisfies HandlerGroup`): each typed by its own operation, and an
 * unknown operation name is an error. A test app may serve a group alone; the router answers 501 for the rest.
 */
export type HandlerGroup = { [K in OperationId]?: Handler<K> };
