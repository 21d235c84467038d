// Errors leave Gatehouse as RFC 9457 problem+json, over REST and on a refused WebSocket upgrade alike. Code throws
// an HttpProblem; `renderProblem` is the one place that turns it into status, headers and body.
import { PROBLEM_STATUS, statusTitle, type ProblemBody, type ProblemCode, type ProblemItem } from "./catalogue";

export interface ProblemExtras {
  /** Machine-readable code (the spec's ProblemCode), e.g. COMMAND_NOT_ALLOWED. */
  code?: ProblemCode;
  errors?: ProblemItem[];
  operation?: string;
  /** 409 IDEMPOTENCY_OUTCOME_UNKNOWN: the interaction whose outcome is unknown. */
  interaction_id?: string;
  /** Extra response headers, e.g. Retry-After. */
  headers?: Record<string, string>;
}

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly extras: ProblemExtras = {},
  ) {
    super(detail);
    this.name = "HttpProblem";
  }

  get title(): string {
    return statusTitle(this.status);
  }

  get code(): ProblemCode | undefined {
    return this.extras.code;
  }
}

/** A problem whose status is the catalogue's for its code. */
export function problem(code: ProblemCode, detail: string, extras: Omit<ProblemExtras, "code"> = {}): HttpProblem {
  return new HttpProblem(PROBLEM_STATUS[code], detail, { ...extras, code });
}

export interface RenderedProblem {
  status: number;
  headers: Record<string, string>;
  body: ProblemBody;
}

/** Where the problem happened: the request path and the request id decided at the boundary. */
export interface ProblemOccurrence {
  instance?: string;
  requestId?: string | undefined;
}

export function renderProblem(p: HttpProblem, at: ProblemOccurrence = {}): RenderedProblem {
  const { code, errors, operation, interaction_id } = p.extras;
  const body: ProblemBody = {
    type: code ? `urn:gatehouse:problem:${code.toLowerCase()}` : "about:blank",
    title: p.title,
    status: p.status,
    detail: p.detail,
    ...(at.instance !== undefined ? { instance: at.instance } : {}),
    ...(at.requestId !== undefined ? { request_id: at.requestId } : {}),
    ...(code ? { code } : {}),
    ...(errors ? { errors } : {}),
    ...(operation ? { operation } : {}),
    ...(interaction_id ? { interaction_id } : {}),
  };
  return { status: p.status, headers: { "Content-Type": "application/problem+json", ...p.extras.headers }, body };
}

/**
 * A complete HTTP/1.1 error response for a raw socket (a refused upgrade, a request Node's parser rejected):
 * the same problem+json as any REST answer, then the connection is closed.
 */
export function rawProblemResponse(p: HttpProblem, at: ProblemOccurrence = {}): string {
  const rendered = renderProblem(p, at);
  const body = JSON.stringify(rendered.body);
  const headers: Record<string, string | number> = {
    ...rendered.headers,
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  };
  const head = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join("\r\n");
  return `HTTP/1.1 ${p.status} ${p.title}\r\n${head}\r\n\r\n${body}`;
}
