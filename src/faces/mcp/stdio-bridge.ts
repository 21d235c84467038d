// `gatehouse mcp-stdio`: for MCP clients that only launch local processes. A forwarding proxy: JSON-RPC
// messages read on stdin (the SDK's StdioServerTransport) are sent to Gatehouse's Streamable HTTP endpoint (the
// SDK's StreamableHTTPClientTransport, which keeps the Mcp-Session-Id), and everything Gatehouse answers —
// results, progress notifications — is written to stdout. Nothing is interpreted here: the gateway governs (a line
// the gateway's HTTP door would refuse is refused here, as re-serialised it would no longer say so: stdio-lines.ts).
import { parseArgs } from "node:util";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { isInitializeRequest, isJSONRPCRequest, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { checkedLines } from "./stdio-lines";

export const STDIO_USAGE = `usage: gatehouse mcp-stdio --url GATEHOUSE_URL (--agent UAPK_ID | --purutos)
       [--api-key KEY | --token BEARER] [--capability-token TOKEN]
  The key defaults to $GATEHOUSE_API_KEY, then $PURUTO_GATEWAY_API_KEY; the token to $GATEHOUSE_TOKEN.
  --api-key / --token win over the environment; from it, --purutos (API keys only) takes a key first.`;

export interface BridgeOptions {
  /** The full MCP endpoint, e.g. http://127.0.0.1:8000/mcp/agents/customer-support-bot */
  endpoint: URL;
  headers: Record<string, string>;
}

/** Command-line arguments → bridge options, or a usage error. */
export function bridgeOptionsOf(
  argv: string[],
  env: Record<string, string | undefined>,
): BridgeOptions | { error: string } {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: "string" },
      agent: { type: "string" },
      purutos: { type: "boolean", default: false },
      "api-key": { type: "string" },
      token: { type: "string" },
      "capability-token": { type: "string" },
    },
  });
  if (!values.url || (!values.agent && !values.purutos) || (values.agent && values.purutos))
    return { error: STDIO_USAGE };
  let endpoint: URL;
  try {
    const base = new URL(values.url);
    const path = values.purutos ? "mcp/purutos" : `mcp/agents/${encodeURIComponent(values.agent!)}`;
    endpoint = new URL(path, base.href.endsWith("/") ? base : new URL(`${base.href}/`));
  } catch {
    return { error: `--url must be a URL, got "${values.url}"` };
  }
  const headers: Record<string, string> = {};
  const credential = credentialOf(values, env);
  if (!credential)
    return { error: "no credential: give --api-key or --token (or set GATEHOUSE_API_KEY / GATEHOUSE_TOKEN)" };
  if ("token" in credential) headers.Authorization = `Bearer ${credential.token}`;
  else headers["X-API-Key"] = credential.key;
  if (values["capability-token"]) headers["X-Capability-Token"] = values["capability-token"];
  return { endpoint, headers };
}

/**
 * The credential to present. One on the command line wins over the environment's: GATEHOUSE_TOKEN (an operator's,
 * exported for the CLI's commands over the API) must not replace an explicit --api-key. From the environment,
 * /mcp/purutos, which takes API keys only, prefers a key; an agent's endpoint a person's token.
 */
function credentialOf(
  values: { token?: string; "api-key"?: string; purutos?: boolean },
  env: Record<string, string | undefined>,
): { token: string } | { key: string } | undefined {
  if (values.token) return { token: values.token };
  if (values["api-key"]) return { key: values["api-key"] };
  const envToken = env.GATEHOUSE_TOKEN || undefined;
  const envKey = env.GATEHOUSE_API_KEY || env.PURUTO_GATEWAY_API_KEY || undefined;
  if (envKey && (values.purutos || !envToken)) return { key: envKey };
  return envToken ? { token: envToken } : undefined;
}

/** The JSON-RPC error for a stdin line the SDK could not read: -32700 for bad JSON, -32600 for a non-message. */
function unreadableLineAnswer(err: Error): JSONRPCMessage | undefined {
  const error =
    err instanceof SyntaxError
      ? { code: -32700, message: `Parse error: ${err.message}` }
      : err.name === "ZodError"
        ? { code: -32600, message: "Invalid Request: not a JSON-RPC 2.0 message" }
        : undefined;
  return error && ({ jsonrpc: "2.0", id: null, error } as unknown as JSONRPCMessage);
}

/**
 * How long the bridge still waits, once its input has ended, for the answers to the requests it had read. A
 * governed tools/call can wait for a human approval on the gateway for up to GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS
 * (at most 3600, see ../mcp/options.ts) and then run (an HTTP connector for at most 60 s): 65 minutes does not cut
 * such a call, whose outcome the client would otherwise never learn, and still ends a bridge whose gateway went
 * silent. The client can always stop the bridge sooner with a signal.
 */
const DRAIN_AFTER_END_MS = 65 * 60_000;
/** How long the bridge waits for the gateway to answer the DELETE that ends its session, at exit. */
const DELETE_WAIT_MS = 5_000;

/** Runs the bridge until stdin ends and every request read has been answered (or DRAIN_AFTER_END_MS passed). */
export async function runStdioBridge(options: BridgeOptions): Promise<void> {
  const upstream = new StreamableHTTPClientTransport(options.endpoint, { requestInit: { headers: options.headers } });
  // Lines the gateway's HTTP door would refuse are answered here, before the SDK's JSON.parse loses what was wrong.
  const input = process.stdin.pipe(checkedLines((refusal) => track(write(refusal))));
  const local = new StdioServerTransport(input);
  let closing = false;
  /** What each message read still waits for: a request its answer written to stdout, a notification its sending. */
  const inFlight = new Set<Promise<unknown>>();
  const track = (done: Promise<unknown>) => {
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  };
  /** Requests whose answer has not been written yet, by id (a list: a sloppy client may reuse an id). */
  const unanswered = new Map<string | number, (() => void)[]>();
  const answerOf = (id: string | number) =>
    new Promise<void>((resolve) => unanswered.set(id, [...(unanswered.get(id) ?? []), resolve]));
  /** Writes a message to stdout; an answer to a request read then counts as given. */
  const write = async (message: JSONRPCMessage) => {
    await local.send(message);
    const id = "id" in message && !("method" in message) ? message.id : undefined;
    const waiting = id === undefined || id === null ? undefined : unanswered.get(id);
    waiting?.shift()?.();
    if (waiting?.length === 0) unanswered.delete(id!);
  };

  /** A request Gatehouse could not be reached for (or refused, e.g. 401) gets a JSON-RPC error, not silence. */
  const failed = (message: JSONRPCMessage, err: unknown) => {
    if (!isJSONRPCRequest(message)) return;
    void write({
      jsonrpc: "2.0",
      id: message.id,
      error: { code: -32000, message: `Gatehouse: ${(err as Error).message}` },
    });
  };
  // Until Gatehouse has answered `initialize` (its answer names the session), later messages wait: sent before, they
  // carry no Mcp-Session-Id and are refused. A client that writes its next requests without waiting for the
  // initialize result (the spec says to wait; some pipe them all at once) still gets them answered, in order.
  let afterInitialize: Promise<unknown> = Promise.resolve();
  local.onmessage = (message) => {
    const answered = isJSONRPCRequest(message) ? answerOf(message.id) : undefined;
    const sent = afterInitialize.then(() => upstream.send(message));
    sent.catch((err) => failed(message, err));
    track(answered ?? sent.catch(() => {}));
    if (isInitializeRequest(message)) afterInitialize = sent.catch(() => {});
  };
  // A line that is not JSON, or not a JSON-RPC message, gets the JSON-RPC answer for it (id null: none could be
  // read), as Gatehouse's HTTP endpoint gives one; the SDK's transport only reports it here and reads on.
  local.onerror = (err) => {
    const answer = unreadableLineAnswer(err);
    if (answer) track(write(answer));
    else process.stderr.write(`gatehouse mcp-stdio: ${err.message}\n`);
  };
  upstream.onmessage = (message) => {
    void write(message);
  };
  // Closing aborts the open SSE stream: that abort is the bridge's own doing, not an error to report.
  upstream.onerror = (err) => {
    if (!closing) process.stderr.write(`gatehouse mcp-stdio: ${err.message}\n`);
  };

  // The end of input is not the end of the work: the requests already read are on their way, and closing the
  // upstream now would abort them (a call could run on the gateway while its client is told "aborted"). So the
  // bridge stops reading, waits for their answers, then closes.
  let ending = false;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const endOfInput = async () => {
    if (ending) return;
    ending = true;
    await local.close();
    await settledWithin([...inFlight], DRAIN_AFTER_END_MS);
    closing = true;
    // close() only aborts the open streams: the session would live on in the gateway's pool (a run leaked one)
    // until idle. The DELETE ends it there; a gateway that cannot be reached keeps it until idle anyway, and one that
    // never answers must not keep the bridge from exiting (close() below aborts the DELETE still waiting).
    await settledWithin([upstream.terminateSession().catch(() => {})], DELETE_WAIT_MS);
    await upstream.close();
    finished();
  };
  local.onclose = () => void endOfInput(); // also when the SDK's transport gives up reading (a line over its limit)
  await upstream.start();
  await local.start();
  input.once("end", () => void endOfInput());
  await done;
}

/** Resolves once every promise has settled, or after `ms`, whichever comes first. */
async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([Promise.allSettled(promises), timeUp]);
  clearTimeout(timer);
}

/** The CLI entry: `gatehouse mcp-stdio …`. */
export async function mcpStdioCommand(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  const options = bridgeOptionsOf(argv, env);
  if ("error" in options) {
    process.stderr.write(`${options.error}\n`);
    return 2;
  }
  await runStdioBridge(options);
  return 0;
}
