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

/** Only the head of a prompt names a tool: the patterns backtrack, and a 1 MiB prompt would cost seconds. */
const TOOL_PROMPT_HEAD = 4096;

/** The first `units` UTF-16 units of `text`, one fewer when the cut would split a surrogate pair (no lone half). */
export function headOf(text: string, units: number): string {
  const last = text.charCodeAt(units - 1);
  const splitsPair = text.length > units && last >= 0xd800 && last <= 0xdbff;
  return text.slice(0, splitsPair ? units - 1 : units);
}

function toolFor(fullPrompt: string): ToolRequest | undefined {
  const prompt = headOf(fullPrompt, TOOL_PROMPT_HEAD);
  const path = /[\w./-]+\.\w+/.exec(prompt)?.[0] ?? "main.dart";
  return TOOL_PROMPTS.find((r) => r.pattern.test(prompt))?.request(prompt, path);
}

class Cancelled extends Error {}

const SESSION_PATH = /^\/runtime\/sessions\/([^/]+)$/;

/** What a turn uses to talk: each of these ends with Cancelled once the turn is cancelled. */
interface Turn {
  pause(ms: number): Promise<void>;
  /** The next hitl_decision or tool_result about the call (queued early ones first). */
  nextAbout(callId: string): Promise<Frame>;
  /** Streams `text` word by word as assistant_message tokens. */
  stream(text: string): Promise<void>;
}

/** One session on its socket: the current agent, its turns (one at a time) and the calls a turn waits on. */
class RuntimeSession {
  private agent = "orchestrator";
  private streaming = false;
  private callCounter = 0;
  private cancelCurrent: (() => void) | undefined;
  private turns = Promise.resolve();
  /** A turn waiting for the next hitl_decision or tool_result of one call. */
  private readonly waiters = new Map<string, (frame: Frame) => void>();
  /**
   * Frames about a known call that arrived before the turn asked for them (the IDE can answer a call while
   * the runtime is still streaming about it): kept in order and handed over when the turn asks.
   */
  private readonly early = new Map<string, Frame[]>();

  constructor(
    private readonly ws: WebSocket,
    private readonly sessionId: string,
    private readonly received: ReceivedFrame[],
    private readonly tokenDelayMs: number,
  ) {
    ws.on("message", (data) => this.onMessage(data.toString()));
    ws.on("close", () => this.cancelCurrent?.());
  }

  private send(frame: Frame): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private onMessage(data: string): void {
    let frame: Frame;
    try {
      frame = JSON.parse(data) as Frame;
    } catch {
      this.send({ type: "error", error_code: "INVALID_FORMAT", message: "Frame is not JSON" });
      return;
    }
    this.received.push({ sessionId: this.sessionId, frame, duringStream: this.streaming, at: Date.now() });
    switch (frame.type) {
      case "user_message":
        this.turns = this.turns.then(() => this.runTurn(String(frame.content ?? "")));
        break;
      case "cancel":
        this.cancelCurrent?.();
        break;
      case "hitl_decision":
      case "tool_result":
        this.onAnswer(frame);
        break;
      case "switch_agent":
        this.send({ type: "agent_switched", agent: frame.agent, previous_agent: this.agent });
        this.agent = String(frame.agent);
        break;
      default:
        this.send({ type: "error", error_code: "INVALID_TYPE", message: `Unknown message type ${String(frame.type)}` });
    }
  }

  /** A hitl_decision or tool_result: to the turn waiting on its call, queued if the call is known, else refused. */
  private onAnswer(frame: Frame): void {
    const callId = String(frame.call_id);
    const waiter = this.waiters.get(callId);
    const queue = this.early.get(callId);
    if (waiter) {
      this.waiters.delete(callId);
      waiter(frame);
    } else if (queue) {
      queue.push(frame);
    } else {
      this.send({
        type: "error",
        error_code: "INVALID_CALL_ID",
        message: `No tool call ${callId} waits for ${String(frame.type)}`,
      });
    }
  }

  private async runTurn(prompt: string): Promise<void> {
    const turn = this.startTurn();
    try {
      this.send({ type: "agent_status", status: "thinking" });
      const tool = toolFor(prompt);
      if (tool) {
        await this.runTool(turn, tool);
      } else {
        const words = /long|длинн/i.test(prompt) ? 120 : 6;
        const reply = Array.from({ length: words }, (_, i) => `слово${i + 1}`).join(" ");
        await turn.stream(`Вы написали: ${prompt}. ${reply}`);
      }
    } catch (err) {
      if (!(err instanceof Cancelled)) {
        this.send({ type: "error", error_code: "INTERNAL_ERROR", message: String(err), is_final: true });
      }
    } finally {
      this.cancelCurrent = undefined;
      this.send({ type: "assistant_message", token: "", is_final: true });
      this.send({ type: "agent_status", status: "idle" });
    }
  }

  /** A turn's pauses and waits, all ended by cancelling it (`cancel` frame or socket closed). */
  private startTurn(): Turn {
    let cancelled = false;
    const cancelWaiters: Array<() => void> = [];
    this.cancelCurrent = () => {
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
        const queued = this.early.get(callId)?.shift();
        if (queued) return resolve(queued);
        this.waiters.set(callId, resolve);
        cancelWaiters.push(() => {
          this.waiters.delete(callId);
          reject(new Cancelled());
        });
      });
    const stream = async (text: string) => {
      this.streaming = true;
      try {
        for (const word of text.split(/(?<=\s)/)) {
          await pause(this.tokenDelayMs);
          this.send({ type: "assistant_message", token: word, is_final: false });
        }
      } finally {
        this.streaming = false;
      }
    };
    return { pause, nextAbout, stream };
  }

  /** Asks the IDE to run a tool (after its approval when it needs one) and tells the user how it went. */
  private async runTool(turn: Turn, requested: ToolRequest): Promise<void> {
    let tool = requested;
    const callId = `call_${++this.callCounter}`;
    this.early.set(callId, []);
    const what = `${tool.tool_name} ${Object.values(tool.arguments)
      .filter((v) => typeof v === "string" && v.length < 80)
      .join(" ")}`.trim();
    let answer = turn.nextAbout(callId);
    answer.catch(() => undefined);
    this.send({ type: "tool_call", call_id: callId, ...tool });
    let frame: Frame;
    if (tool.requires_approval) {
      this.send({ type: "agent_status", status: "waiting_approval" });
      // Keep talking while the user decides: the decision arrives mid-stream.
      await turn.stream(`Я подготовил ${what}. Подтвердите, отредактируйте или отклоните, пожалуйста. `);
      frame = await answer;
      if (frame.type === "hitl_decision") {
        if (frame.decision === "reject") {
          this.early.delete(callId);
          const feedback = typeof frame.feedback === "string" ? ` ${frame.feedback}` : "";
          await turn.stream(`Хорошо, не выполняю ${tool.tool_name}.${feedback}`);
          return;
        }
        const args =
          frame.decision === "edit" && frame.modified_arguments
            ? (frame.modified_arguments as Record<string, unknown>)
            : tool.arguments;
        tool = { ...tool, arguments: args };
        this.send({ type: "agent_status", status: "executing_tool" });
        answer = turn.nextAbout(callId);
        frame = await answer;
      }
    } else {
      this.send({ type: "agent_status", status: "executing_tool" });
      frame = await answer;
    }
    this.early.delete(callId);
    const error = frame.error as { code?: string } | undefined;
    const target = String(tool.arguments.path ?? tool.arguments.command ?? tool.arguments.remote ?? tool.tool_name);
    await turn.stream(
      error ? `Не удалось: ${target} (${error.code ?? "error"}).` : `Готово: ${target} (${tool.tool_name}).`,
    );
  }
}

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
    wss.handleUpgrade(
      req,
      socket,
      head,
      (ws) => new RuntimeSession(ws, decodeURIComponent(encodedId), received, tokenDelayMs),
    );
  });

  // A listen error (port taken) rejects, so the caller can name the variable that chose the port.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8001, opts.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
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
  const tokenDelayMs = process.env.AGENT_RUNTIME_TOKEN_DELAY_MS;
  const runtime = await startAgentRuntime({
    port,
    host: process.env.HOST ?? "127.0.0.1",
    ...(tokenDelayMs ? { tokenDelayMs: Number(tokenDelayMs) } : {}),
  });
  console.log(
    `agent runtime listening on ${runtime.url} (ws ${runtime.url.replace("http", "ws")}/runtime/sessions/{session_id})`,
  );
  const stop = () => {
    // A close that hangs on a half-open socket must not keep the process: exit anyway after a second.
    setTimeout(() => process.exit(0), 1_000).unref();
    void runtime.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  exitWithParent(stop);
}

/**
 * Started by Gatehouse (src/cli/agent-runtime-process.ts), the runtime must not outlive it, even when the gateway
 * was SIGKILLed and could not stop us: the IPC channel it opened closes when it dies (the kernel closes its end),
 * and, in case that is missed, a parent pid that changes (we were reparented) means the same.
 */
function exitWithParent(stop: () => void): void {
  if (!process.channel) return; // started by hand: it lives as long as its operator wants
  process.channel.unref();
  process.once("disconnect", stop);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 500).unref();
}
