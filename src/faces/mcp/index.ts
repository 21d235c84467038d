export { createMcpFace, MCP_PREFIX, type McpFace, type McpFaceDeps } from "./mcp-face";
export { mcpOptionsFromEnv, DEFAULT_MCP_OPTIONS, type McpOptions } from "./options";
export type { BodyValidator, InputProblem, PurutoCommandAnswer, PurutoCommands, PurutoInfo } from "./ports";
export type { AmountBounds } from "./tool-catalog";
