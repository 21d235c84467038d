// A reference agent runtime speaking Gatehouse's runtime protocol (channel `runtimeSession` in
// spec/sessions.asyncapi.yaml): one WebSocket per session at /runtime/sessions/{session_id}, full duplex.
// It is a scripted agent, not an LLM: it streams a reply word by word, asks for a tool when the prompt names
// one (see TOOL_PROMPTS: "read x.ts" → read_file, "delete x.ts" → delete_file, "run <cmd>" → run_command,
// "push" → git.push, any other mention of a file → write_file), waits for the hitl_decision (tools that
// change the machine) and the tool_result, and stops on `cancel`. A `tool_result` with an error where a
// decision was awaited (Gatehouse denied the call) ends the wait too.
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

interface ToolRequest {
  tool_name: string;
  arguments: Record<string, unknown>;
  /** The runtime's own wish; Gatehouse's policy decides. */
  requires_approval: boolean;
}

/** Which prompt asks for which tool; first match wins (so "force-push" comes before "push"). `path` is the first file-like word of the prompt. */
const TOOL_PROMPTS: { pattern: RegExp; request: (prompt: string, path: string) => ToolRequest }[] = [
  {
    pattern: /\bread\b|прочитай/i,
    request: (_p, path) => ({ tool_name: "read_file", arguments: { path }, requires_approval: false }),
  },
  {
    pattern: /\bdelete\b|удали/i,
    request: (_p, path) => ({ tool_name: "delete_file", arguments: { path }, requires_approval: true }),
  },
  {
    pattern: /\brun\s+\S/i,
    request: (prompt) => ({
      tool_name: "run_command",
      arguments: { command: /\brun\s+(.+)$/i.exec(prompt)![1] },
      requires_approval: true,
    }),
  },
  {
    pattern: /\bforce[- ]push\b/i,
    request: () => ({ tool_name: "git.force_push", arguments: { remote: "origin" }, requires_approval: true }),
  },
  {
    pattern: /\bpush\b/i,
    request: (prompt) => ({
      tool_name: "git.push",
      arguments: { remote: /\bto\s+([\w.-]+)/i.exec(prompt)?.[1] ?? "origin", branch: "main" },
      requires_approval: true,
    }),
  },
  {
    pattern: /file|файл/i,
    request: (_p, path) => ({
      tool_name: "write_file",
      arguments: { path, content: "void main() {}\n" },
      requires_approval: true,
    }),
  },
];

function toolFor(prompt: string): ToolRequest | undefined {
  const path = /[\w./-]+\.\w+/.exec(prompt)?.[0] ?? "main.dart";
  return TOOL_PROMPTS.find((r) => r.pattern.test(prompt))?.request(prompt, path);
}

class Cancelled extends Error {}

const SESSION_PATH = /^\/runtime\/sessions\/([^/]+)$/;

export async function startAgentRuntime(opts: AgentRuntimeOptions = {}): Promise<AgentRuntime> {
  const tokenDelayMs = opts.tokenDelayMs ?? 25;
  const received: ReceivedFrame[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/health") {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ status: "ok", service: "agent-runtime" }));
      return;
    }
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    const encodedId = SESSION_PATH.exec(new URL(req.url ?? "/", "http://runtime").pathname)?.[1];
    if (encodedId === undefined) {
      socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => runSession(ws, decodeURIComponent(encodedId)));
  });

  function runSession(ws: WebSocket, sessionId: string) {
    let agent = "orchestrator";
    let streaming = false;
    let callCounter = 0;
    let cancelCurrent: (() => void) | undefined;
    let turns = Promise.resolve();
    /** A turn waiting for the next hitl_decision or tool_result of one call. */
    const waiters = new Map<string, (frame: Frame) => void>();
    /**
     * Frames about a known call that arrived before the turn asked for them (the IDE can answer a call while
     * the runtime is still streaming about it): kept in order and handed over when the turn asks.
     */
    const early = new Map<string, Frame[]>();

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
          const callId = String(frame.call_id);
          const waiter = waiters.get(callId);
          if (waiter) {
            waiters.delete(callId);
            waiter(frame);
          } else if (early.has(callId)) {
            early.get(callId)!.push(frame);
          } else {
            send({
              type: "error",
              error_code: "INVALID_CALL_ID",
              message: `No tool call ${callId} waits for ${String(frame.type)}`,
            });
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
      const nextAbout = (callId: string) =>
        new Promise<Frame>((resolve, reject) => {
          if (cancelled) return reject(new Cancelled());
          const queued = early.get(callId)?.shift();
          if (queued) return resolve(queued);
          waiters.set(callId, resolve);
          cancelWaiters.push(() => {
            waiters.delete(callId);
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

      const runTool = async (tool: ToolRequest) => {
        const callId = `call_${++callCounter}`;
        early.set(callId, []);
        const what = `${tool.tool_name} ${Object.values(tool.arguments)
          .filter((v) => typeof v === "string" && v.length < 80)
          .join(" ")}`.trim();
        let answer = nextAbout(callId);
        answer.catch(() => undefined);
        send({ type: "tool_call", call_id: callId, ...tool });
        let frame: Frame;
        if (tool.requires_approval) {
          send({ type: "agent_status", status: "waiting_approval" });
          // Keep talking while the user decides: the decision arrives mid-stream.
          await stream(`Я подготовил ${what}. Подтвердите, отредактируйте или отклоните, пожалуйста. `);
          frame = await answer;
          if (frame.type === "hitl_decision") {
            if (frame.decision === "reject") {
              early.delete(callId);
              const feedback = typeof frame.feedback === "string" ? ` ${frame.feedback}` : "";
              await stream(`Хорошо, не выполняю ${tool.tool_name}.${feedback}`);
              return;
            }
            const args =
              frame.decision === "edit" && frame.modified_arguments
                ? (frame.modified_arguments as Record<string, unknown>)
                : tool.arguments;
            tool = { ...tool, arguments: args };
            send({ type: "agent_status", status: "executing_tool" });
            answer = nextAbout(callId);
            frame = await answer;
          }
        } else {
          send({ type: "agent_status", status: "executing_tool" });
          frame = await answer;
        }
        early.delete(callId);
        const error = frame.error as { code?: string } | undefined;
        const target = String(tool.arguments.path ?? tool.arguments.command ?? tool.arguments.remote ?? tool.tool_name);
        await stream(
          error ? `Не удалось: ${target} (${error.code ?? "error"}).` : `Готово: ${target} (${tool.tool_name}).`,
        );
      };

      try {
        send({ type: "agent_status", status: "thinking" });
        const tool = toolFor(prompt);
        if (tool) {
          await runTool(tool);
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
  console.log(
    `agent runtime listening on ${runtime.url} (ws ${runtime.url.replace("http", "ws")}/runtime/sessions/{session_id})`,
  );
  const stop = () => void runtime.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
