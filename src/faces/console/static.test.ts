// The console's static files are served before the API router; their refusals must still be problem+json.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../test-support/gatehouse";

let g: TestGatehouse;

beforeAll(async () => {
  g = await startTestGatehouse();
});

afterAll(async () => {
  await g?.dispose();
});

describe("console static files", () => {
  it.each([
    ["GET", "/console/nope.js", 404, "ROUTE_NOT_FOUND"],
    ["GET", "/console/..%2Fopenapi.json", 404, "ROUTE_NOT_FOUND"],
    ["POST", "/console", 405, "METHOD_NOT_ALLOWED"],
  ])("%s %s → %i problem+json %s, with the console's security headers", async (method, path, status, code) => {
    const response = await fetch(`${g.url}${path}`, { method });
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(await response.json()).toMatchObject({ status, code, instance: path });
    if (status === 405) expect(response.headers.get("allow")).toBe("GET, HEAD");
  });

  it.each([
    ["GET", "/console/"],
    ["HEAD", "/console/"],
    ["GET", "/console/nope.js"],
    ["POST", "/console"],
  ])("%s %s carries an X-Request-Id like every other answer: the caller's, else a new one", async (method, path) => {
    const given = await fetch(`${g.url}${path}`, { method, headers: { "x-request-id": "console-req-1" } });
    expect(given.headers.get("x-request-id")).toBe("console-req-1");
    const fresh = await fetch(`${g.url}${path}`, { method });
    expect(fresh.headers.get("x-request-id")).toMatch(/^req-[0-9a-f-]{36}$/);
    if (fresh.status >= 400)
      expect(await fresh.json()).toMatchObject({ request_id: fresh.headers.get("x-request-id") });
  });

  it("still serves the console itself", async () => {
    const response = await fetch(`${g.url}/console/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
  });
});
