// `gatehouse mcp-stdio`'s arguments: which endpoint and which credential the bridge presents.
import { describe, expect, it } from "vitest";
import { bridgeOptionsOf } from "./stdio-bridge";

const URL_ARGS = ["--url", "http://127.0.0.1:8000"];

function headersOf(argv: string[], env: Record<string, string | undefined>) {
  const options = bridgeOptionsOf([...URL_ARGS, ...argv], env);
  if ("error" in options) throw new Error(options.error);
  return { endpoint: options.endpoint.href, headers: options.headers };
}

describe("bridgeOptionsOf: the credential", () => {
  it("an explicit --api-key wins over GATEHOUSE_TOKEN from the environment (make run's banner exports it)", () => {
    expect(headersOf(["--purutos", "--api-key", "key-123456"], { GATEHOUSE_TOKEN: "operator.jwt" })).toEqual({
      endpoint: "http://127.0.0.1:8000/mcp/purutos",
      headers: { "X-API-Key": "key-123456" },
    });
    expect(
      headersOf(["--agent", "customer-support-bot", "--api-key", "key-123456"], { GATEHOUSE_TOKEN: "operator.jwt" })
        .headers,
    ).toEqual({ "X-API-Key": "key-123456" });
  });

  it("an explicit --token wins over the environment's API key", () => {
    expect(
      headersOf(["--agent", "customer-support-bot", "--token", "person.jwt"], { GATEHOUSE_API_KEY: "key-123456" })
        .headers,
    ).toEqual({ Authorization: "Bearer person.jwt" });
  });

  it("from the environment: an agent's endpoint takes the token first, /mcp/purutos (API keys only) the key", () => {
    const env = { GATEHOUSE_TOKEN: "operator.jwt", GATEHOUSE_API_KEY: "key-123456" };
    expect(headersOf(["--agent", "customer-support-bot"], env).headers).toEqual({
      Authorization: "Bearer operator.jwt",
    });
    expect(headersOf(["--purutos"], env).headers).toEqual({ "X-API-Key": "key-123456" });
    expect(headersOf(["--purutos"], { GATEHOUSE_TOKEN: "operator.jwt" }).headers).toEqual({
      Authorization: "Bearer operator.jwt",
    });
    expect(headersOf(["--agent", "a"], { PURUTO_GATEWAY_API_KEY: "env-key-1" }).headers).toEqual({
      "X-API-Key": "env-key-1",
    });
  });

  it("no credential at all is a usage error", () => {
    expect(bridgeOptionsOf([...URL_ARGS, "--purutos"], {})).toEqual({ error: expect.stringMatching(/no credential/) });
  });
});
