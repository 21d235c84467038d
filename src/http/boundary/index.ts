// The boundary kit: what every door into Gatehouse (REST, the WebSocket upgrade, raw socket errors) shares.
export { PROBLEM_STATUS, statusTitle, type ProblemBody, type ProblemCode, type ProblemItem } from "./catalogue";
export {
  HttpProblem,
  problem,
  rawProblemResponse,
  renderProblem,
  type ProblemExtras,
  type RenderedProblem,
} from "./problem";
export { bearerChallenge, missingBearer, parseBearer, tokenProblem } from "./bearer";
export { decideRequestId } from "./request-id";
export {
  allowedHostsOf,
  allowedHostsProblem,
  hostRefusal,
  requestHostRefusal,
  type AllowedHosts,
  type HostedRequest,
} from "./hosts";
export { serveAsPlainHttp } from "./plain-http";
