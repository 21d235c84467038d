// A Gatehouse in its own process for the crash test: started from the environment (GATEHOUSE_DATA_DIR, PORT=0,
// PURUTO_GATEWAY_API_KEY, GATEHOUSE_DEFAULT_ORG…), it prints one JSON line {url, operatorToken} once listening.
// Run with `node --import tsx child-gatehouse.ts`: one process, so SIGKILL really kills the gateway.
import { loadConfig } from "../../../config";
import { logger } from "../../../core/log/logger";
import { startGatehouse } from "../../../server";

const gatehouse = await startGatehouse(loadConfig(process.env), logger, process.env);
const operatorToken = await gatehouse.devIssuer!.mint({
  sub: "operator@crash-test",
  org: process.env.GATEHOUSE_DEFAULT_ORG!,
  roles: ["operator"],
});
process.stdout.write(`${JSON.stringify({ url: gatehouse.url, operatorToken })}\n`);
