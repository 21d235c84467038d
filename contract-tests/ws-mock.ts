// A WebSocket mock of /ws/{session_id} built from the AsyncAPI examples — Prism does not do WebSockets.
// Each client frame is validated against its message schema (invalid → the `error` example shape with
// INVALID_MESSAGE); valid frames are answered with the documented examples of what Gatehouse sends next.
import { createServer, type Server } from "node:http";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Parser, fromFile } from "@asyncapi/parser";
import { Ajv2020 } from "ajv/dist/2020.js";
import { WebSocketServer } from "ws";

const root = resolve(import.meta.dirname, "..");

type Frame = Record<string, unknown> & { type?: string };

/** Which documented server messages answer each client message type. */
const REPLIES: Record<string, string[]> = {
  user_message: ["Ack", "AgentStatus", "AssistantMessage", "ToolCall"],
  tool_result: ["AssistantMessage"],
  hitl_decision: ["AssistantMessage"],
  switch_agent: ["AgentSwitched"],
  cancel: ["AgentStatus"],
  resume: ["SessionResumed"],
};

export async function startWsMock(port: number): Promise<Server> {
  const { document } = await fromFile(new Parser(), resolve(root, "spec/sessions.asyncapi.yaml")).parse();
  if (!document) throw new Error("spec/sessions.asyncapi.yaml does not parse");
  const index = JSON.parse(readFileSync(resolve(root, "generated/messages/index.json"), "utf8")) as Record<
    string,
    { type: string; channel: string; action: string }
  >;
  const examples = new Map<string, Frame[]>();
  for (const m of document.components().messages().all()) {
    examples.set(m.id(), m.examples().all().map((e) => e.payload() as Frame));
  }
  const ajv = new Ajv2020({ strict: false });
  const incoming = Object.entries(index).filter(([, v]) => v.channel === "session" && v.action === "receive");
  const validators = new Map(
    incoming.map(([name, v]) => {
      const schema = JSON.parse(readFileSync(resolve(root, `generated/messages/${v.type}.schema.json`), "utf8"));
      const type = (schema.properties?.type?.const ?? name) as string;
      return [type, ajv.compile(schema)] as const;
    }),
  );

  const server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket mock: connect to /ws/{session_id}\n");
  });
  const wss = new WebSocketServer({ server });
  wss.on("connection", (ws, req) => {
    if (!/^\/ws\/[^/]+$/.test(req.url?.split("?")[0] ?? "")) return ws.close(1008, "path must be /ws/{session_id}");
    let seq = 0;
    const send = (frame: Frame) => ws.send(JSON.stringify({ ...frame, seq: ++seq }));
    ws.on("message", (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(data));
      } catch {
        return send({ type: "error", error_code: "INVALID_MESSAGE", message: "Frame is not JSON" });
      }
      const validate = validators.get(String(frame.type));
      if (!validate || !validate(frame)) {
        return send({ type: "error", error_code: "INVALID_MESSAGE", message: `Invalid ${String(frame.type)} frame` });
      }
      for (const message of REPLIES[String(frame.type)] ?? []) {
        for (const example of examples.get(message) ?? []) send(example);
      }
    });
  });
  await new Promise<void>((ok) => server.listen(port, "127.0.0.1", ok));
  return server;
}
