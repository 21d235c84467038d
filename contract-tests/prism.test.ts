// Replays every documented example against Prism: a frontend developer who asks for an example by name
// gets exactly that example, with its status.
import { beforeAll, describe, expect, inject, it } from "vitest";
import { collectCases, urlOf } from "./examples";
import { record } from "./coverage";
import { waitForHttp } from "./prism";

const cases = collectCases();
const prism = { url: inject("prismUrl") };

// Prism is launched once by global-setup.ts; this waits until it answers.
beforeAll(() => waitForHttp(prism.url), 200_000);

describe("every example, served by Prism", () => {
  it.each(cases.map((c) => [c.name + " " + c.method + " " + c.path, c] as const))("%s", async (_label, c) => {
    const headers: Record<string, string> = {
      ...c.headers,
      "X-API-Key": "contract-test-key",
      Authorization: "Bearer contract.test.token",
    };
    if (c.response) headers.Prefer = `code=${c.response.status}, example=${c.name}`;
    if (c.body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(urlOf(c, prism.url), {
      method: c.method,
      headers,
      ...(c.body === undefined ? {} : { body: JSON.stringify(c.body) }),
    });
    const text = await res.text();
    if (c.response) {
      expect(res.status, `${c.name}: ${text}`).toBe(c.response.status);
      const body = c.response.contentType.includes("json") ? JSON.parse(text) : text;
      expect(body).toEqual(c.response.body);
    } else {
      // A request-only example must be a valid request: Prism answers a documented success.
      expect(res.status, `${c.name}: ${res.headers.get("sl-violations") ?? text}`).toBeLessThan(300);
    }
    record("prism", `${c.operationId}:${c.name}`, "green");
  });
});
