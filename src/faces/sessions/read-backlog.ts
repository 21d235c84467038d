// Frames read from a socket wait for the ones before them, which may be slow (a runtime that does not answer its
// connect, a forward to another node, a tool call's policy decision). Past `maxBytes` of waiting frames the socket
// is no longer read, so TCP slows the sender down: before, it was read into memory whatever it sent (an IDE: 200 MiB
// in 1.5 s while the runtime connect timed out; a runtime: 20 MB of tool calls while the policy decided the first).
import type { RawData } from "ws";

/** What a socket must offer to be paused: `ws`'s WebSocket does. */
export interface Pausable {
  readonly isPaused: boolean;
  pause(): void;
  resume(): void;
}

/** What a waiting frame counts for: its bytes, and at least 1 KiB (its closure and promise cost memory too). */
function waitingCost(data: RawData | string): number {
  if (typeof data === "string") return Math.max(1024, data.length);
  return Math.max(1024, Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength);
}

/** Counts the frames waiting to be handled; `add` when one is read, `done` with its cost once it was handled. */
export function readBacklog(socket: Pausable, maxBytes: number) {
  let bytes = 0;
  return {
    add(data: RawData | string): number {
      const cost = waitingCost(data);
      bytes += cost;
      if (bytes > maxBytes && !socket.isPaused) socket.pause();
      return cost;
    },
    done(cost: number): void {
      bytes -= cost;
      if (bytes <= maxBytes && socket.isPaused) socket.resume();
    },
  };
}
