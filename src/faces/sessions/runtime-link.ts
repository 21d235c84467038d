// One full-duplex WebSocket per session to the agent runtime (`/runtime/sessions/{id}`). Frames from the
// runtime are handed on as they arrive and frames to it are written at once, so a hitl_decision or cancel
// reaches the runtime while a reply is still streaming (the original awaited a whole SSE reply instead).
import WebSocket from "ws";
import type { RuntimeOutFrame } from "./frames";

export interface RuntimeLinkOptions {
  /** AGENT_RUNTIME_URL, http(s) or ws(s). */
  runtimeUrl: string;
  sessionId: string;
  sub: string;
  orgId?: string | undefined;
  /** AGENT_RUNTIME_KEY, sent as a bearer token when set. */
  apiKey?: string | undefined;
  connectTimeoutMs: number;
  /**
   * Bytes the link may hold unwritten (GATEHOUSE_WS_MAX_BUFFERED_BYTES): past it the link is `congested` and IDE
   * frames are refused rather than queued in memory for a runtime that does not read.
   */
  maxBufferedBytes: number;
  onFrame: (data: string, receivedAt: number) => void;
  /** The link dropped without us closing it. */
  onLost: (reason: string) => void;
}

export function runtimeWsBase(runtimeUrl: string): string {
  const url = new URL(runtimeUrl);
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  return url.href.replace(/\/$/, "");
}

export function runtimeHttpBase(runtimeUrl: string): string {
  const url = new URL(runtimeUrl);
  if (url.protocol === "ws:") url.protocol = "http:";
  if (url.protocol === "wss:") url.protocol = "https:";
  return url.href.replace(/\/$/, "");
}

export class RuntimeLink {
  private ws?: WebSocket;
  private closedByUs = false;
  /**
   * The agents the IDE asked for with switch_agent over this link that the runtime has not confirmed yet, oldest
   * first (./agent-switch.ts): only an agent_switched arriving over this same link can answer them.
   */
  requestedAgents: string[] = [];

  constructor(private readonly opts: RuntimeLinkOptions) {}

  /** This gateway closed the link: frames of it still waiting to be handled are not (./runtime-inbound.ts). */
  get closedByGateway(): boolean {
    return this.closedByUs;
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Reading stops while the frames read wait to be handled (./read-backlog.ts). */
  get isPaused(): boolean {
    return this.ws?.isPaused ?? false;
  }

  pause(): void {
    this.ws?.pause();
  }

  resume(): void {
    this.ws?.resume();
  }

  connect(): Promise<void> {
    const { runtimeUrl, sessionId, sub, orgId, apiKey, connectTimeoutMs } = this.opts;
    const headers: Record<string, string> = { "x-gatehouse-sub": sub };
    if (orgId) headers["x-gatehouse-org"] = orgId;
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    const url = `${runtimeWsBase(runtimeUrl)}/runtime/sessions/${encodeURIComponent(sessionId)}`;
    const ws = new WebSocket(url, { headers, handshakeTimeout: connectTimeoutMs, maxPayload: 16 * 1024 * 1024 });
    this.ws = ws;
    return new Promise((resolve, reject) => {
      let opened = false;
      ws.on("open", () => {
        opened = true;
        resolve();
      });
      ws.on("message", (data, isBinary) => {
        this.opts.onFrame(isBinary ? "" : data.toString(), performance.now());
      });
      ws.on("error", (err) => {
        if (!opened) reject(err);
      });
      ws.on("close", (code, reason) => {
        if (!opened) return reject(new Error(`runtime closed the handshake (${code})`));
        if (!this.closedByUs) this.opts.onLost(`runtime link closed (${code} ${reason.toString()})`.trim());
      });
    });
  }

  /** Bytes written to the link that the runtime has not taken yet (queued in this process). */
  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** The runtime does not take what was written (more than maxBufferedBytes wait): write nothing more for now. */
  get congested(): boolean {
    return this.bufferedAmount > this.opts.maxBufferedBytes;
  }

  /**
   * Writes a frame now; false when the link is not open. `onWritten` is called once the frame left this process
   * (handed to the kernel), or with an error when it never will: only then was it delivered to the runtime's socket.
   */
  send(frame: RuntimeOutFrame, onWritten?: (err?: Error) => void): boolean {
    if (!this.open) return false;
    this.ws!.send(JSON.stringify(frame), onWritten);
    return true;
  }

  close(): void {
    this.closedByUs = true;
    this.ws?.close(1000, "session ended");
  }
}

/** Health probe: the runtime's GET /health answering 2xx within the timeout. */
export async function probeRuntime(runtimeUrl: string, timeoutMs = 1500): Promise<boolean> {
  try {
    const res = await fetch(`${runtimeHttpBase(runtimeUrl)}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}
