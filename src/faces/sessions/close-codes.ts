// WebSocket close codes the session gateway uses (documented in spec/sessions.asyncapi.yaml).
export const CloseCode = {
  NORMAL: 1000,
  /** Frame larger than maxPayload (ws closes with it by itself). */
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /** SIGTERM: reconnect and resume with the last seq. */
  SERVICE_RESTART: 1012,
  /** Slow consumer: too many bytes queued for the socket. */
  TRY_AGAIN_LATER: 1013,
  /** Sent after a TOKEN_EXPIRED frame: reconnect with a new token and resume. */
  TOKEN_EXPIRED: 4401,
  /** The session was opened on a newer socket. */
  REPLACED: 4409,
} as const;
