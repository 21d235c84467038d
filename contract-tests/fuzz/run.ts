// `make fuzz`: FUZZ_REQUESTS (default 20000) schema-derived requests with FUZZ_SEED (default 10) against a fresh
// Gatehouse. Prints the status histogram and every 5xx with its repro; exits 1 on any 5xx, any 4xx that is not
// problem+json, or any dropped connection.
import { startTestGatehouse } from "../fixtures";
import { formatReport, fuzz } from "./fuzzer";

const seed = Number(process.env.FUZZ_SEED ?? 10);
const requests = Number(process.env.FUZZ_REQUESTS ?? 20_000);
const gatehouse = await startTestGatehouse({ env: fuzzEnvironment() });
try {
  const target = {
    url: gatehouse.url,
    apiKey: gatehouse.apiKey,
    operatorToken: gatehouse.operatorToken,
    orgId: gatehouse.orgId,
  };
  const report = await fuzz(target, { seed, requests });
  console.log(formatReport(target, report));
  const failed = report.serverErrors.length + report.nonProblem4xx.length + report.networkErrors.length;
  process.exitCode = failed ? 1 : 0;
} finally {
  await gatehouse.dispose();
}

/** Rate limits high enough that the fuzzer reaches the handlers instead of a 429 wall. */
export function fuzzEnvironment(): Record<string, string> {
  return {};
}
