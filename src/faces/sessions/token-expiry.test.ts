// The socket of a token is closed with TOKEN_EXPIRED / 4401 at the token's exp — not before, whatever its lifetime.
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { CloseCode } from "./close-codes";
import { armTokenExpiry } from "./ide-connection";
import type { Connection, LiveSession, SessionRegistry } from "./session-state";

afterEach(() => {
  vi.useRealTimers();
});

function socketWithToken(expInSeconds: number) {
  const close = vi.fn();
  const sendError = vi.fn();
  const conn = { ws: { readyState: WebSocket.OPEN, close } } as unknown as Connection;
  const registry = { sendError } as unknown as SessionRegistry;
  armTokenExpiry(registry, {} as LiveSession, conn, Math.floor(Date.now() / 1000) + expInSeconds);
  return { close, sendError };
}

describe("token expiry on an open socket", () => {
  it("a token valid for 30 days is not closed after the 24.8 days a timer can wait, but at its exp", () => {
    vi.useFakeTimers();
    const day = 86_400;
    const { close, sendError } = socketWithToken(30 * day);
    vi.advanceTimersByTime(29 * day * 1000);
    expect(close).not.toHaveBeenCalled();
    vi.advanceTimersByTime(day * 1000 + 1000);
    expect(sendError).toHaveBeenCalledWith(
      expect.anything(),
      "TOKEN_EXPIRED",
      expect.any(String),
      {},
      false,
      expect.anything(),
    );
    expect(close).toHaveBeenCalledWith(CloseCode.TOKEN_EXPIRED, expect.any(String));
  });

  it("a token of one hour is closed at its exp", () => {
    vi.useFakeTimers();
    const { close } = socketWithToken(3600);
    vi.advanceTimersByTime(3599 * 1000);
    expect(close).not.toHaveBeenCalled();
    vi.advanceTimersByTime(2000);
    expect(close).toHaveBeenCalledTimes(1);
  });
});
