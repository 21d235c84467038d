// The route table answers what @koa/router (path-to-regexp's defaults) answered, per request, without a regular
// expression per route: these cases pin the semantics a client can observe.
import { describe, expect, it } from "vitest";
import { buildRouteTable } from "./routes";
import { loadSpec } from "./spec";

const spec = loadSpec();
const table = buildRouteTable(spec.operations);
const opAt = (method: string, path: string) => table.match(method, path)?.op.operationId;

describe("route table", () => {
  it("finds literal and parameterised operations, with decoded parameters", () => {
    expect(opAt("GET", "/health")).toBe("System_health");
    expect(opAt("POST", "/api/v1/gateway/execute")).toBe("Gateway_execute");
    const found = table.match("GET", "/api/v1/orgs/acme%20co/manifests");
    expect(found?.op.path).toBe("/api/v1/orgs/{org_id}/manifests");
    expect(found?.params).toEqual({ org_id: "acme co" });
  });

  it("literal segments compare without ASCII case and one trailing slash is allowed; not two", () => {
    expect(opAt("GET", "/HEALTH")).toBe("System_health");
    expect(opAt("GET", "/health/")).toBe("System_health");
    expect(opAt("GET", "/health//")).toBeUndefined();
    // The Kelvin sign lower-cases to "k" in Unicode: it must not name the literal "well-known".
    expect(opAt("GET", "/.well-known/jwks.json")).toBe("System_jwks");
    expect(opAt("GET", "/.well-\u212Anown/jwks.json")).toBeUndefined();
  });

  it("a parameter is one non-empty segment; an encoded slash stays inside it", () => {
    expect(table.match("GET", "/api/v1/orgs//manifests")).toBeUndefined();
    expect(table.match("GET", "/api/v1/orgs/a/b/manifests")).toBeUndefined();
    expect(table.match("GET", "/api/v1/orgs/a%2Fb/manifests")?.params).toEqual({ org_id: "a/b" });
    // A malformed escape is left as sent (then the path schema decides), never a crash.
    expect(table.match("GET", "/api/v1/orgs/%E0%A4%A/manifests")?.params).toEqual({ org_id: "%E0%A4%A" });
  });

  it("a dot segment makes no 405: another method's route does not count it, the request's own method's does", () => {
    for (const dots of [".", "..", "%2e", "%2E%2e"]) {
      expect(table.methodsAt(`/purutos/${dots}/puruto-x`)).toEqual([]);
      expect(table.methodsAt(`/purutos/puruto-x/${dots}`)).toEqual([]);
      // The invoke route still takes it (its handler answers 400/404 for such a name).
      expect(opAt("POST", `/purutos/${dots}/status`)).toBe("Purutos_invoke");
    }
    expect(table.methodsAt("/purutos/a.b/status")).toEqual(["POST"]);
  });

  it("literal segments win over parameters at the same place, whatever the method", () => {
    expect(opAt("GET", "/api/v1/orgs/acme/interactions/verify")).toBe("Interactions_verify");
    expect(opAt("GET", "/api/v1/orgs/acme/interactions/int_1")).toBe("Interactions_get");
    expect(opAt("GET", "/api/v1/orgs/acme/webhooks/deliveries")).toBe("Webhooks_deliveries");
    // DELETE has only the parameterised path: "deliveries" is then a webhook id like any other.
    expect(table.match("DELETE", "/api/v1/orgs/acme/webhooks/deliveries")?.params).toEqual({
      org_id: "acme",
      webhook_id: "deliveries",
    });
  });

  it("GET answers HEAD; the methods at a path are listed for 405 and OPTIONS; an unknown path has none", () => {
    expect(opAt("HEAD", "/health")).toBe("System_health");
    expect(table.methodsAt("/health").sort()).toEqual(["GET", "HEAD"]);
    expect(table.methodsAt("/api/v1/gateway/execute")).toEqual(["POST"]);
    expect(table.methodsAt("/no/such/route")).toEqual([]);
    expect(opAt("DELETE", "/health")).toBeUndefined();
  });
});
