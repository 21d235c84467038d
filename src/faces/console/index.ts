// The operator console face: its static assets at /console and the live approvals feed it follows.
export { createApprovalEvents, type ApprovalEvents, type ApprovalListener } from "./approval-events";
export { consoleHandlers } from "./handlers";
export { loadConsoleAssets, consoleCsp, CONSOLE_CSP, CONSOLE_PATH, type ConsoleAssets } from "./static";
export { consoleOidcFromEnv, type ConsoleOidc } from "./oidc";
