// The stdio bridge's line filter: lines pass unchanged whatever the chunking, refused ones are answered instead.
import { describe, expect, it } from "vitest";
import { checkedLines } from "./stdio-lines";

async function through(chunks: string[]): Promise<{ passed: string; answers: unknown[] }> {
  const answers: unknown[] = [];
  const lines = checkedLines((a) => answers.push(a));
  let passed = "";
  lines.on("data", (d: Buffer) => (passed += d.toString()));
  const ended = new Promise((r) => lines.on("end", r));
  for (const c of chunks) lines.write(Buffer.from(c));
  lines.end();
  await ended;
  return { passed, answers };
}

describe("checkedLines", () => {
  it("passes lines split across chunks unchanged (CRLF and a last line without newline too)", async () => {
    const text =
      '{"jsonrpc":"2.0","id":1,"method":"ping"}\r\n{"jsonrpc":"2.0","id":"é","method":"ping"}\nnot json\n{"a":1}';
    const { passed, answers } = await through([text.slice(0, 7), text.slice(7, 45), text.slice(45)]);
    expect(passed).toBe(text);
    expect(answers).toEqual([]);
  });

  it("answers a refused line with its id and drops it, keeping the lines around it", async () => {
    const ok = '{"jsonrpc":"2.0","id":1,"method":"ping"}\n';
    const dup = '{"jsonrpc":"2.0","id":7,"method":"ping","method":"tools/list"}\n';
    const { passed, answers } = await through([ok + dup.slice(0, 20), dup.slice(20) + ok]);
    expect(passed).toBe(ok + ok);
    expect(answers).toEqual([
      { jsonrpc: "2.0", id: 7, error: { code: -32700, message: expect.stringContaining('"method"') } },
    ]);
  });
});

describe("checkedLines, integers JSON.parse would round", () => {
  it("refuses an integer beyond 2^53−1, naming where it is, as the HTTP door does", async () => {
    const line = '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"arguments":{"n":12345678901234567890}}}\n';
    const { passed, answers } = await through([line]);
    expect(passed).toBe("");
    expect(answers).toEqual([{ jsonrpc: "2.0", id: 3, error: expect.objectContaining({ code: -32600 }) }]);
    expect(JSON.stringify(answers)).toContain("/params/arguments/n");
  });
});

describe("checkedLines, a long line in small chunks", () => {
  it("passes a 2 MiB line sent in 1 KiB chunks unchanged, once, after its newline", async () => {
    const line = `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"${"x".repeat(2 * 1024 * 1024)}"}}\n`;
    const chunks = Array.from({ length: Math.ceil(line.length / 1024) }, (_, i) =>
      line.slice(i * 1024, (i + 1) * 1024),
    );
    const { passed, answers } = await through(chunks);
    expect(passed).toBe(line);
    expect(answers).toEqual([]);
  });
});
