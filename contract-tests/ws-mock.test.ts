// The WebSocket mock answers a user_message with documented frames and rejects an invalid frame.
import { afterAll, beforeAll, expect, it } from "vitest";
import WebSocket from "ws";
import type { Server } from "node:http";
import { startWsMock } from "./ws-mock";

let server: Server;
const port = 4600 + Math.floor(Math.random() * 300);
beforeAll(async () => {
  server = await startWsMock(port);
});
afterAll(() => server.close());

function collect(frames: object[], until: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown>[]> {
  return new Promise((ok, fail) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/demo`);
    const got: Record<string, unknown>[] = [];
    ws.on("open", () => frames.forEach((f) => ws.send(JSON.stringify(f))));
    ws.on("message", (d) => {
      const f = JSON.parse(String(d));
      got.push(f);
      if (until(f)) {
        ws.close();
        ok(got);
      }
    });
    ws.on("error", fail);
  });
}

it("answers a user_message with the documented stream, sequence-numbered", async () => {
  const got = await collect([{ type: "user_message", content: "Создай файл main.dart", role: "user" }], (f) => f.type === "tool_call");
  expect(got.map((f) => f.type)).toContain("assistant_message");
  expect(got.map((f) => f.seq)).toEqual(got.map((_f, i) => i + 1));
});

it("answers an invalid frame with INVALID_MESSAGE", async () => {
  const got = await collect([{ type: "user_message" }], (f) => f.type === "error");
  expect(got.at(-1)).toMatchObject({ type: "error", error_code: "INVALID_MESSAGE" });
});
