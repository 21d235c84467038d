// Errors leave Gatehouse as RFC 9457 problem+json. Handlers and middleware throw HttpProblem;
// the error middleware (src/http/errors.ts) renders it. `detail` carries the seeds' strings.
export interface ProblemItem {
  pointer: string;
  message: string;
}

export interface ProblemExtras {
  /** Machine-readable code, e.g. COMMAND_NOT_ALLOWED. */
  code?: string;
  errors?: ProblemItem[];
  operation?: string;
  /** Extra response headers, e.g. Retry-After. */
  headers?: Record<string, string>;
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
};

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
    return TITLES[this.status] ?? "Error";
  }
}

export const notFound = (detail: string, code?: string) => new HttpProblem(404, detail, { code });
export const badRequest = (detail: string, code?: string) => new HttpProblem(400, detail, { code });
export const forbidden = (detail: string, code?: string) => new HttpProblem(403, detail, { code });
export const conflict = (detail: string, code?: string) => new HttpProblem(409, detail, { code });
