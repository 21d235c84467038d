// `make mock`: Prism on :4010 serving the REST examples, and the WebSocket mock on :4011.
import { describeMock } from "./mock-examples";
import { startPrism } from "./prism";
import { startWsMock } from "./ws-mock";

const restPort = Number(process.env.MOCK_PORT ?? 4010);
const wsPort = Number(process.env.MOCK_WS_PORT ?? 4011);
const prism = await startPrism(restPort);
const ws = await startWsMock(wsPort);
console.log(`Examples per operation (pick one with -H "Prefer: code=<status>, example=<name>"):
${describeMock()}
`);
console.log(`REST mock (Prism): ${prism.url}   e.g. curl -H "X-API-Key: any" ${prism.url}/purutos
  pick an example: -H "Prefer: code=404, example=seed000_puruto_not_found"
WebSocket mock:    ws://127.0.0.1:${wsPort}/ws/demo   needs "Authorization: Bearer <anything>" (not verified) or subprotocols "gatehouse.v1, bearer.<anything>"
  send {"type":"user_message","content":"hi","role":"user"}, then hitl_decision / tool_result for the call_id it returns;
  reconnect with "X-Gatehouse-Last-Seq: <n>" or send {"type":"resume","last_seq":<n>} to replay`);
const stop = async () => {
  ws.close();
  await prism.stop();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
