// A reference agent runtime speaking Gatehouse's runtime protocol (channel `runtimeSession` in
// spec/sessions.asyncapi.yaml): one WebSocket per session at /runtime/sessions/{session_id}, full duplex.
// It is a scripted agent, not an LLM: it streams a reply word by word, asks for a `write_file` tool call when
// the prompt mentions a file, waits for the IDE's hitl_decision and tool_result, and stops on `cancel`.
//
//   tsx examples/agent-runtime/server.ts          (AGENT_RUNTIME_PORT or PORT, default 8001)
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { WebSocketServer, type WebSocket } from "ws";

export interface AgentRuntimeOptions {
  port?: number;
  host?: string;
  /** Pause between streamed tokens. */
  tokenDelayMs?: number;
}

/** Every frame the runtime received, and whether a reply was streaming at that moment. */
export interface ReceivedFrame {
  sessionId: string;
  frame: Record<string, unknown>;
  duringStream: boolean;
  at: number;
}

export interface AgentRuntime {
  port: number;
  url: string;
  received: ReceivedFrame[];
  /** Live runtime sockets (one per Gatehouse session). */
  connections(): number;
  close(): Promise<void>;
}

type Frame = Record<string, unknown>;

class Cancelled extends Error {}

const SESSION_PATH = /^\/runtime\/sessions\/([^/]+)$/;

export async function startAgentRuntime(opts: AgentRuntimeOptions = {}): Promise<AgentRuntime> {
  const tokenDelayMs = opts.tokenDelayMs ?? 25;
  const received: ReceivedFrame[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/health") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ status: "ok", service: "agent-runtime" }));
      return;
    }
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    const match = SESSION_PATH.exec(new URL(req.url ?? "/", "http://runtime").pathname);
    if (!match) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => runSession(ws, decodeURIComponent(match[1])));
  });

  function runSession(ws: WebSocket, sessionId: string) {
    let agent = "orchestrator";
    let streaming = false;
    let callCounter = 0;
    let cancelCurrent: (() => void) | undefined;
    let turns = Promise.resolve();
    const waiters = new Map<string, (frame: Frame) => void>();

    const send = (frame: Frame) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
    };

    ws.on("message", (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(data.toString()) as Frame;
      } catch {
        send({ type: "error", error_code: "INVALID_FORMAT", message: "Frame is not JSON" });
        return;
      }
      received.push({ sessionId, frame, duringStream: streaming, at: Date.now() });
      switch (frame.type) {
        case "user_message":
          turns = turns.then(() => runTurn(String(frame.content ?? "")));
          break;
        case "cancel":
          cancelCurrent?.();
          break;
        case "hitl_decision":
        case "tool_result": {
          const key = `${frame.type}:${String(frame.call_id)}`;
          const waiter = waiters.get(key);
          if (waiter) {
            waiters.delete(key);
            waiter(frame);
          } else {
            send({ type: "error", error_code: "INVALID_CALL_ID", message: `No tool call ${String(frame.call_id)} waits for ${String(frame.type)}` });
          }
          break;
        }
        case "switch_agent":
          send({ type: "agent_switched", agent: frame.agent, previous_agent: agent });
          agent = String(frame.agent);
          break;
        default:
          send({ type: "error", error_code: "INVALID_TYPE", message: `Unknown message type ${String(frame.type)}` });
      }
    });
    ws.on("close", () => cancelCurrent?.());

    async function runTurn(prompt: string) {
      let cancelled = false;
      const cancelWaiters: Array<() => void> = [];
      cancelCurrent = () => {
        cancelled = true;
        for (const stop of cancelWaiters) stop();
      };
      const pause = (ms: number) =>
        new Promise<void>((resolve, reject) => {
          if (cancelled) return reject(new Cancelled());
          const timer = setTimeout(resolve, ms);
          cancelWaiters.push(() => {
            clearTimeout(timer);
            reject(new Cancelled());
          });
        });
      const waitFor = (type: string, callId: string) =>
        new Promise<Frame>((resolve, reject) => {
          if (cancelled) return reject(new Cancelled());
          waiters.set(`${type}:${callId}`, resolve);
          cancelWaiters.push(() => {
            waiters.delete(`${type}:${callId}`);
            reject(new Cancelled());
          });
        });
      const stream = async (text: string) => {
        streaming = true;
        try {
          for (const word of text.split(/(?<=\s)/)) {
            await pause(tokenDelayMs);
            send({ type: "assistant_message", token: word, is_final: false });
          }
        } finally {
          streaming = false;
        }
      };

      try {
        send({ type: "agent_status", status: "thinking" });
        if (/file|файл/i.test(prompt)) {
          const callId = `call_${++callCounter}`;
          const path = /[\w./-]+\.\w+/.exec(prompt)?.[0] ?? "main.dart";
          const decisionArrives = waitFor("hitl_decision", callId);
          decisionArrives.catch(() => undefined);
          send({
            type: "tool_call",
            call_id: callId,
            tool_name: "write_file",
            arguments: { path, content: "void main() {}\n" },
            requires_approval: true,
          });
          send({ type: "agent_status", status: "waiting_approval" });
          // Keep talking while the user decides: the decision arrives mid-stream.
          await stream(`Я подготовил запись файла ${path}. Подтвердите, отредактируйте или отклоните изменение, пожалуйста. `);
          const decision = await decisionArrives;
          if (decision.decision === "reject") {
            const feedback = typeof decision.feedback === "string" ? ` ${decision.feedback}` : "";
            await stream(`Хорошо, не записываю ${path}.${feedback}`);
          } else {
            send({ type: "agent_status", status: "executing_tool" });
            const result = await waitFor("tool_result", callId);
            await stream(result.error ? `Не удалось записать ${path}.` : `Готово: ${path} записан.`);
          }
        } else {
          const words = /long|длинн/i.test(prompt) ? 120 : 6;
          const reply = Array.from({ length: words }, (_, i) => `слово${i + 1}`).join(" ");
          await stream(`Вы написали: ${prompt}. ${reply}`);
        }
      } catch (err) {
        if (!(err instanceof Cancelled)) {
          send({ type: "error", error_code: "INTERNAL_ERROR", message: String(err), is_final: true });
        }
      } finally {
        cancelCurrent = undefined;
        send({ type: "assistant_message", token: "", is_final: true });
        send({ type: "agent_status", status: "idle" });
      }
    }
  }

  await new Promise<void>((resolve) => server.listen(opts.port ?? 8001, opts.host ?? "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${opts.host ?? "127.0.0.1"}:${port}`,
    received,
    connections: () => wss.clients.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.AGENT_RUNTIME_PORT ?? process.env.PORT ?? 8001);
  const runtime = await startAgentRuntime({ port, host: process.env.HOST ?? "127.0.0.1" });
  console.log(`agent runtime listening on ${runtime.url} (ws ${runtime.url.replace("http", "ws")}/runtime/sessions/{session_id})`);
  const stop = () => void runtime.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
