// WebSocket close codes the session gateway uses (documented in spec/sessions.asyncapi.yaml).
export const CloseCode = {
  NORMAL: 1000,
  /** A text frame that is not UTF-8 (ws closes with it by itself). */
  INVALID_PAYLOAD: 1007,
  /** The IDE pinged more than its allowance (./ping-allowance.ts). */
  POLICY_VIOLATION: 1008,
  /** Frame larger than maxPayload (ws closes with it by itself). */
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /** SIGTERM: reconnect and resume with the last seq. */
  SERVICE_RESTART: 1012,
  /** Slow consumer: too many bytes queued for the socket (frames, or pongs answering the IDE's pings). */
  TRY_AGAIN_LATER: 1013,
  /** Sent after a TOKEN_EXPIRED frame: reconnect with a new token and resume. */
  TOKEN_EXPIRED: 4401,
  /** The session was opened on a newer socket. */
  REPLACED: 4409,
} as const;

/**
 * The close code as the closes metric's label: a code of the protocol's own (below 3000: the few RFC 6455 defines,
 * all a peer may send) or of ours (4401, 4409), any other "other". A client chooses its own close code
 * (3000–4999): as a label value it would make a time series of every one it sends.
 */
export function closeCodeLabel(code: number): string {
  return code < 3000 || OUR_CODES.has(code) ? String(code) : "other";
}
const OUR_CODES = new Set<number>(Object.values(CloseCode));
