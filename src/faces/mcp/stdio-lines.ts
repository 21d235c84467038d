// The stdio bridge's input, line by line, read by the gateway's own JSON rules before the SDK parses it. The SDK's
// stdio transport parses each line with JSON.parse and the HTTP transport sends JSON.stringify of the result: a
// member named twice reached the gateway once (the last: `"name":"crm_delete",…,"name":"crm_read"` ran crm_read)
// and `1e309` arrived as null, both run and audited as something the agent never sent, while the gateway's HTTP door
// refuses such a body. A line the HTTP door would refuse is answered here with the same reason and not forwarded.
import { Transform } from "node:stream";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { parseStrictJson } from "../../http/body/json-body";
import { jsonShapeViolation } from "../../http/body/json-shape";
import { HttpProblem } from "../../http/boundary";

/** The SDK's own bound on a line (STDIO_DEFAULT_MAX_BUFFER_SIZE): a longer one is left for it to refuse. */
const MAX_LINE_BYTES = 10 * 1024 * 1024;

/** The JSON-RPC error for a line the gateway's HTTP door would refuse, or undefined when it may go on. */
export function refusedLine(line: string): JSONRPCMessage | undefined {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  const id = idOf(text);
  // Not JSON, or no object, stays the SDK's to answer (-32700/-32600, id null, as before).
  if (id === undefined) return undefined;
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch (err) {
    // Parsed by JSON.parse, refused by the gateway's reader: a repeated member name, a prototype key (not JSON as
    // the gateway reads it), or an integer JSON.parse rounds (JSON, but no request the gateway takes).
    if (!(err instanceof HttpProblem)) throw err;
    if (err.code === "VALIDATION_FAILED") return answer(id, -32600, `Invalid Request: ${err.detail}`);
    return answer(id, -32700, `Parse error: ${err.detail}`);
  }
  const violation = jsonShapeViolation(value);
  if (!violation) return undefined;
  return answer(id, -32600, `Invalid Request: ${violation.pointer || "/"}: ${violation.message}`);
}

/**
 * The line's request id as JSON.parse reads it (null when it has no usable one), so the client can match the
 * refusal to its request; undefined when the line is no JSON object at all.
 */
function idOf(text: string): string | number | null | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const id = (value as { id?: unknown }).id;
  return typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : null;
}

function answer(id: string | number | null, code: number, message: string): JSONRPCMessage {
  return { jsonrpc: "2.0", id, error: { code, message } } as unknown as JSONRPCMessage;
}

/**
 * Passes stdin's lines on unchanged, except those `refusedLine` answers: `refuse` gets the answer to write, and the
 * line is dropped. A partial line longer than the SDK's bound is passed on as it is, for the SDK to refuse.
 */
export function checkedLines(refuse: (answer: JSONRPCMessage) => void): Transform {
  // The partial line's chunks, joined only once its newline came: a 10 MiB line in 64 KiB chunks was copied whole
  // at every chunk (about 800 MB of copying).
  let partial: Buffer[] = [];
  let partialBytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      let newline = chunk.indexOf(0x0a);
      let rest = chunk;
      while (newline !== -1) {
        const line = Buffer.concat([...partial, rest.subarray(0, newline + 1)]);
        partial = [];
        partialBytes = 0;
        rest = rest.subarray(newline + 1);
        const refusal = refusedLine(line.toString("utf8", 0, line.length - 1));
        if (refusal) refuse(refusal);
        else this.push(line);
        newline = rest.indexOf(0x0a);
      }
      if (rest.length > 0) {
        partial.push(rest);
        partialBytes += rest.length;
      }
      if (partialBytes > MAX_LINE_BYTES) {
        this.push(Buffer.concat(partial));
        partial = [];
        partialBytes = 0;
      }
      done();
    },
    flush(done) {
      if (partialBytes > 0) this.push(Buffer.concat(partial));
      done();
    },
  });
}
