// `/mcp/purutos`: each allowed puruto command as a tool `<puruto>_<command>` (made valid for MCP clients by
// ./tool-names.ts; `title` keeps the puruto and command), run through the discovery face's
// invoker (a port): same allow list, scrubbed environment, timeouts and concurrency limit as
// POST /purutos/{name}/{command}. The arguments are the command's payload, checked by the same spec schema.
import type { CallToolRequest, CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import { clipped } from "../../core/policy/clip";
import type { BodyValidator, PurutoCommands, PurutoInfo } from "./ports";
import { boundaryRequestId, correlationIdOf, type RequestHeaders } from "./request-ids";
import { refused } from "./results";
import { mcpToolNames } from "./tool-names";

export interface PurutoToolsDeps {
  purutos: PurutoCommands;
  /** The spec's validator of Purutos_invoke bodies (the payload). */
  validatePayload: BodyValidator;
}

type Target = { puruto: string; command: string };

/**
 * `<puruto>.<command>`, the names listed before they were made valid for MCP clients: puruto folder names start
 * with `puruto-` and commands have no dot, so the last dot splits.
 */
function splitName(name: string): Target | undefined {
  const dot = name.lastIndexOf(".");
  if (dot <= 0 || dot === name.length - 1) return undefined;
  return { puruto: name.slice(0, dot), command: name.slice(dot + 1) };
}

/** Each allowed command with its listed name. */
function namedCommands(purutos: readonly PurutoInfo[]) {
  const commands = purutos.flatMap((puruto) => puruto.commands.map((command) => ({ puruto, command })));
  const names = mcpToolNames(
    commands.map(({ puruto, command }) => ({
      name: `${puruto.name}_${command.name}`,
      identity: JSON.stringify([puruto.name, command.name]),
    })),
  );
  return commands.map((c, i) => ({ ...c, name: names[i]! }));
}

/** The HTTP request's ids, as REST /purutos passes them (the invoker generates any that is missing or unsafe). */
function idsOf(extra: RequestHeaders): { requestId?: string; correlationId?: string } {
  const requestId = boundaryRequestId(extra);
  const correlationId = correlationIdOf(extra);
  return Object.assign(
    {},
    requestId === undefined ? {} : { requestId },
    correlationId === undefined ? {} : { correlationId },
  );
}

export function createPurutoTools(deps: PurutoToolsDeps) {
  /** The command a listed name stands for, else a legacy `<puruto>.<command>` name (the invoker's allow list decides). */
  async function targetOf(name: string): Promise<Target | undefined> {
    const listed = namedCommands(await deps.purutos.list()).find((c) => c.name === name);
    return listed ? { puruto: listed.puruto.name, command: listed.command.name } : splitName(name);
  }

  async function listTools(): Promise<Tool[]> {
    const tools: Tool[] = [];
    for (const { puruto, command, name } of namedCommands(await deps.purutos.list())) {
      tools.push({
        name,
        title: `${puruto.name} ${command.name}`,
        description: [
          command.description,
          puruto.description ? `(${puruto.description})` : undefined,
          "Allow-listed puruto command run by Gatehouse.",
        ]
          .filter(Boolean)
          .join(" "),
        inputSchema: { type: "object", description: "The command's payload (JSON on the command's stdin)." },
      });
    }
    return tools;
  }

  async function callTool(
    params: CallToolRequest["params"],
    extra: { signal: AbortSignal } & RequestHeaders,
  ): Promise<CallToolResult> {
    const target = await targetOf(params.name);
    // The name quoted clipped and visibly (src/core/policy/clip.ts), as REST's reasons quote what a caller sent.
    if (!target)
      return refused("UNKNOWN_TOOL", `Unknown tool '${clipped(params.name)}': call a tool that tools/list names`);
    const payload = (params.arguments ?? {}) as Record<string, unknown>;
    const problems = deps.validatePayload(payload);
    if (problems)
      return refused("VALIDATION_FAILED", problems.map((p) => `${p.pointer}: ${p.message}`).join("; "), problems);
    const answer = await deps.purutos.invoke({
      name: target.puruto,
      command: target.command,
      payload,
      ...idsOf(extra),
      signal: extra.signal,
    });
    if (!answer.ok) return refused(answer.code, answer.message);
    const { invocation } = answer;
    const structured = { target: target.puruto, command: target.command, invocation };
    if (invocation.status === "error") {
      const error = invocation.error ?? { code: "COMMAND_FAILED", message: "The command failed" };
      return {
        content: [{ type: "text", text: `${error.code}: ${error.message}` }],
        structuredContent: structured,
        isError: true,
      };
    }
    return {
      content: [{ type: "text", text: JSON.stringify(invocation.result ?? {}) }],
      structuredContent: structured,
      isError: false,
    };
  }

  return { listTools, callTool };
}

export type PurutoTools = ReturnType<typeof createPurutoTools>;
