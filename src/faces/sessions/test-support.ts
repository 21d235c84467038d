// Test scaffolding for the session gateway: a local IdP serving a JWKS, the reference agent runtime,
// a gateway on an ephemeral port and a small IDE client that records every frame.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";
import WebSocket, { WebSocketServer } from "ws";
import { startAgentRuntime, type AgentRuntime } from "../../../examples/agent-runtime/server";
import { GatehouseSession, sessionUrl, type ServerFrame } from "../../../generated/ws-client";
import { createUserTokenVerifier } from "../../core/identity/user-tokens";
import { tapConformance } from "../../test-support/conformance";
import { attachSessionGateway, type SessionGateway, type SessionGatewayDeps } from "./gateway";
import { sessionKey } from "./session-key";

export const ISSUER = "https://idp.test";
export const AUDIENCE = "gatehouse";

export interface TestIdp {
  jwksUrl: string;
  privateKey: CryptoKey;
  jwk: JWK;
  mint(claims?: {
    sub?: string;
    org?: string;
    expInSeconds?: number;
    iss?: string;
    aud?: string;
    kid?: string;
    /** More claims (an ID token's `nonce`). */
    extra?: Record<string, unknown>;
  }): Promise<string>;
  close(): Promise<void>;
}

export async function startIdp(): Promise<TestIdp> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: "test-key-1", alg: "RS256", use: "sig" };
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  });
  await listen(server);
  return {
    jwksUrl: `http://127.0.0.1:${port(server)}/.well-known/jwks.json`,
    privateKey,
    jwk,
    mint: ({ sub = "alice", org, expInSeconds = 300, iss = ISSUER, aud = AUDIENCE, kid = "test-key-1", extra } = {}) =>
      new SignJWT({ ...(org ? { org } : {}), roles: ["developer"], ...extra })
        .setProtectedHeader({ alg: "RS256", kid })
        .setIssuer(iss)
        .setAudience(aud)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + expInSeconds)
        .sign(privateKey),
    close: () => closeServer(server),
  };
}

/** The key (./session-key.ts: Redis keys, runtime path) of the session `clientId` of a token `mint` made. */
export function keyOf(clientId: string, { sub = "alice", org }: { sub?: string; org?: string } = {}): string {
  return sessionKey({ issuer: ISSUER, sub, ...(org ? { orgId: org } : {}) }, clientId);
}

export interface TestGateway {
  wsBase: string;
  gateway: SessionGateway;
  runtime?: AgentRuntime | undefined;
  close(): Promise<void>;
}

export async function startGateway(
  idp: TestIdp,
  overrides: Partial<SessionGatewayDeps> & { withRuntime?: boolean; tokenDelayMs?: number } = {},
): Promise<TestGateway> {
  const { withRuntime = true, tokenDelayMs = 15, ...deps } = overrides;
  const runtime = withRuntime ? await startAgentRuntime({ port: 0, tokenDelayMs }) : undefined;
  const server = createServer((_req, res) => res.writeHead(404).end());
  // Every refused upgrade and every frame sent to an IDE is checked against the AsyncAPI document.
  const conformance = tapConformance(server);
  const gateway = attachSessionGateway(server, {
    verifyUserToken: createUserTokenVerifier({
      jwksUrl: idp.jwksUrl,
      issuer: ISSUER,
      audience: AUDIENCE,
      cacheMaxAgeMs: 60_000,
    }),
    agentRuntimeUrl: runtime?.url ?? "http://127.0.0.1:9",
    ...deps,
    options: { connectionsPerIpPerMinute: 1000, ...deps.options },
  });
  await listen(server);
  return {
    wsBase: `ws://127.0.0.1:${port(server)}`,
    gateway,
    runtime,
    async close() {
      await gateway.close();
      server.closeAllConnections();
      await closeServer(server);
      await runtime?.close();
      await conformance.assertClean();
    },
  };
}

export type Frame = Record<string, unknown> & { type: string; seq?: number };

/** The last assistant_message of a turn. */
export const isFinal = (f: Frame) => f.type === "assistant_message" && f.is_final === true;

/** The text a turn streamed: its assistant_message tokens, in order. */
export const tokensOf = (frames: Frame[]) =>
  frames
    .filter((f) => f.type === "assistant_message")
    .map((f) => f.token)
    .join("");

export interface IdeClient {
  ws: WebSocket;
  frames: Frame[];
  send(frame: unknown): void;
  /** Resolves with the first frame (already received or future) matching the predicate. */
  next(pred: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  closed: Promise<{ code: number; reason: string }>;
}

/**
 * The first recorded frame (from the start of the recording) that matches `pred`, waiting for new frames
 * until `timeoutMs`. `listeners` are called by the recorder after each frame it appends.
 */
function nextFrame<F extends { type?: unknown }>(
  frames: F[],
  listeners: Set<() => void>,
  pred: (f: F) => boolean,
  timeoutMs = 5000,
): Promise<F> {
  return new Promise((resolve, reject) => {
    let index = 0;
    const check = () => {
      for (; index < frames.length; index++) {
        const frame = frames[index];
        if (frame === undefined || !pred(frame)) continue;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(frame);
        return;
      }
    };
    const timer = setTimeout(() => {
      listeners.delete(check);
      reject(new Error(`timed out; frames so far: ${JSON.stringify(frames.map((f) => f.type))}`));
    }, timeoutMs);
    listeners.add(check);
    check();
  });
}

export function openIde(
  url: string,
  opts: { token?: string | undefined; protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<IdeClient> {
  const headers = { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers };
  const ws = new WebSocket(url, opts.protocols ?? [], { headers });
  const frames: Frame[] = [];
  const listeners = new Set<() => void>();
  ws.on("message", (data) => {
    frames.push(JSON.parse(data.toString()) as Frame);
    for (const l of listeners) l();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const client: IdeClient = {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
    next: (pred, timeoutMs) => nextFrame(frames, listeners, pred, timeoutMs),
  };
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** Attempts an upgrade that must be refused: the HTTP status, headers and problem body instead of a 101. */
export function refusedUpgrade(
  url: string,
  opts: { headers?: Record<string, string>; protocols?: string[] } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers });
    ws.once("open", () => {
      ws.close();
      reject(new Error("upgrade was accepted"));
    });
    ws.once("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        });
      });
    });
    ws.once("error", () => undefined);
  });
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
}

function port(server: Server): number {
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** An IDE on the typed client of generated/ws-client.ts, recording the typed frames it receives. */
export interface TypedIde {
  session: GatehouseSession;
  ws: WebSocket;
  frames: ServerFrame[];
  next<T extends ServerFrame>(pred: (f: ServerFrame) => f is T, timeoutMs?: number): Promise<T>;
  next(pred: (f: ServerFrame) => boolean, timeoutMs?: number): Promise<ServerFrame>;
}

export function openTypedIde(
  baseUrl: string,
  sessionId: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<TypedIde> {
  const ws = new WebSocket(sessionUrl(baseUrl, sessionId), {
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
  const session = new GatehouseSession(ws);
  const frames: ServerFrame[] = [];
  const listeners = new Set<() => void>();
  session.onFrame((frame) => {
    frames.push(frame);
    for (const l of listeners) l();
  });
  const next = (pred: (f: ServerFrame) => boolean, timeoutMs?: number) => nextFrame(frames, listeners, pred, timeoutMs);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve({ session, ws, frames, next: next as TypedIde["next"] }));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** A stand-in agent runtime: `onLink` is given each link the gateway opens; `close` ends them all. */
export async function startFakeRuntime(onLink: (ws: WebSocket) => void): Promise<{ url: string; close(): void }> {
  const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  const links: WebSocket[] = [];
  server.on("connection", (ws) => {
    links.push(ws);
    onLink(ws);
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      for (const ws of links) ws.terminate();
      server.close();
    },
  };
}
