// The transport's JSON path hands a valid tools/call to the Server after ONE check of its params: every zod parse
// is a share of an MCP call's CPU (a default parameter once made it three), and a bad call still never reaches it.
import { EventEmitter } from "node:events";
import { CallToolRequestSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import type { Context } from "koa";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SessionTransport } from "./transport";

/** The members of a Koa context the JSON path reads, over a response that records what was written. */
function fakeContext() {
  const res = Object.assign(new EventEmitter(), {
    written: "",
    writeHead: vi.fn(),
    end(body: string) {
      res.written = body;
      res.emit("close");
    },
  });
  const headers: Record<string, string> = { accept: "application/json, text/event-stream" };
  const ctx = { method: "POST", res, req: { headers }, get: (name: string) => headers[name.toLowerCase()] ?? "" };
  return { ctx: ctx as unknown as Context, res };
}

const call = (args: unknown) => ({
  jsonrpc: "2.0" as const,
  id: 7,
  method: "tools/call",
  params: { name: "noop.ping", arguments: args },
});

afterEach(() => vi.restoreAllMocks());

describe("SessionTransport.answerAsJson", () => {
  it("checks a valid tools/call's params once and hands it to the Server", async () => {
    const transport = new SessionTransport({ sessionIdGenerator: () => "session-1" });
    const delivered: JSONRPCMessage[] = [];
    transport.onmessage = (message) => {
      delivered.push(message);
      void transport.send({ jsonrpc: "2.0", id: 7, result: { content: [] } });
    };
    const parses = vi.spyOn(CallToolRequestSchema, "safeParse");
    const { ctx, res } = fakeContext();

    await transport.answerAsJson(ctx, call({ params: {} }));

    expect(delivered).toEqual([call({ params: {} })]);
    expect(parses).toHaveBeenCalledTimes(1);
    expect(JSON.parse(res.written)).toEqual({ jsonrpc: "2.0", id: 7, result: { content: [] } });
  });

  it("answers a tools/call whose arguments are not an object -32602 without handing it over", async () => {
    const transport = new SessionTransport({ sessionIdGenerator: () => "session-1" });
    const delivered: JSONRPCMessage[] = [];
    transport.onmessage = (message) => delivered.push(message);
    const { ctx, res } = fakeContext();

    await transport.answerAsJson(ctx, call([]));

    expect(delivered).toEqual([]);
    expect(JSON.parse(res.written)).toMatchObject({ id: 7, error: { code: -32602 } });
  });
});
