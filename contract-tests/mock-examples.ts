// What the REST mock can answer, per operation: each documented status with its named examples, the first of
// which Prism serves when the request names none. `make mock` prints it; the mock test checks against it.
import { openapi } from "./examples";

type Json = Record<string, unknown>;

export interface MockResponse {
  status: number;
  contentType: string;
  /** Example names in the order Prism sees them: the first is the default one. */
  examples: string[];
}

export interface MockOperation {
  operationId: string;
  method: string;
  path: string;
  summary: string;
  responses: MockResponse[];
}

const METHODS = ["get", "put", "post", "patch", "delete"];

export function mockOperations(doc: Json = openapi): MockOperation[] {
  const out: MockOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const responses: MockResponse[] = [];
      for (const [status, r] of Object.entries((op.responses ?? {}) as Record<string, Json>)) {
        const content = Object.entries((r.content ?? {}) as Record<string, Json>);
        for (const [contentType, media] of content) {
          responses.push({
            status: Number(status),
            contentType,
            examples: Object.keys((media.examples ?? {}) as Json),
          });
        }
        if (content.length === 0) responses.push({ status: Number(status), contentType: "", examples: [] });
      }
      out.push({
        operationId: String(op.operationId),
        method: method.toUpperCase(),
        path,
        summary: String(op.summary ?? ""),
        responses,
      });
    }
  }
  return out.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
}

/** One block per operation: `GET /purutos — List purutos`, then `200  seed000_list_purutos (default), …`. */
export function describeMock(ops: MockOperation[] = mockOperations()): string {
  return ops
    .map((op) => {
      const lines = op.responses.map((r) => {
        const names = r.examples.length
          ? r.examples.map((n, i) => (i === 0 ? `${n} (default)` : n)).join(", ")
          : "— no example: Prism generates one from the schema";
        return `    ${r.status}  ${names}`;
      });
      return [`  ${op.method} ${op.path} — ${op.summary}`, ...lines].join("\n");
    })
    .join("\n");
}
