// Environment knobs of the sessions face (all optional; the seed's limits are the defaults).
//   GATEHOUSE_WS_CONNECTIONS_PER_IP_PER_MINUTE   default 10
//   GATEHOUSE_WS_MAX_SESSIONS_PER_USER           default 16 (live IDE sockets per user, all nodes; more → 429;
//                                                and runtime links per user per node, ./runtime-link-cap.ts)
//   GATEHOUSE_WS_MESSAGES_PER_SESSION_PER_MINUTE default 100
//   GATEHOUSE_WS_MAX_PAYLOAD_BYTES               default 1 MiB (bigger IDE frame → close 1009)
//   GATEHOUSE_WS_MAX_BUFFERED_BYTES              default 4 MiB (slow consumer → close 1013)
//   GATEHOUSE_WS_REPLAY_WINDOW_MS                default 120000
//   GATEHOUSE_WS_SESSION_TTL_MS                  default 1800000 (no IDE on any node for that long → ended)
//   GATEHOUSE_WS_REPLAY_MAX_BYTES                default 8 MiB per session
//   GATEHOUSE_WS_REPLAY_MAX_TOTAL_BYTES          default 64 MiB over every session of the node
//   GATEHOUSE_WS_REPLAY_TRIM_INTERVAL_MS         default 1000
//   GATEHOUSE_REDIS_PREFIX                       default "gatehouse" (Redis keys of limiters and sessions)
//   GATEHOUSE_SESSION_MANIFEST                   default "ide-assistant" (see ./governed-tools.ts)
//   GATEHOUSE_SESSION_AGENTS                     default "" (runtime agents judged by their own manifest: uapk_ids)
import type { SessionGatewayOptions } from "./options";
import { DEFAULT_SESSION_MANIFEST } from "./governed-tools";

const INTEGER_OPTIONS: [string, keyof SessionGatewayOptions][] = [
  ["GATEHOUSE_WS_CONNECTIONS_PER_IP_PER_MINUTE", "connectionsPerIpPerMinute"],
  ["GATEHOUSE_WS_MAX_SESSIONS_PER_USER", "maxSessionsPerUser"],
  ["GATEHOUSE_WS_MESSAGES_PER_SESSION_PER_MINUTE", "messagesPerSessionPerMinute"],
  ["GATEHOUSE_WS_MAX_PAYLOAD_BYTES", "maxPayloadBytes"],
  ["GATEHOUSE_WS_MAX_BUFFERED_BYTES", "maxBufferedBytes"],
  ["GATEHOUSE_WS_REPLAY_WINDOW_MS", "replayWindowMs"],
  ["GATEHOUSE_WS_SESSION_TTL_MS", "sessionTtlMs"],
  ["GATEHOUSE_WS_REPLAY_MAX_BYTES", "replayMaxBytes"],
  ["GATEHOUSE_WS_REPLAY_MAX_TOTAL_BYTES", "replayMaxTotalBytes"],
  ["GATEHOUSE_WS_REPLAY_TRIM_INTERVAL_MS", "replayTrimIntervalMs"],
];

export interface SessionsConfig {
  options: Partial<SessionGatewayOptions>;
  sessionManifest: string;
  /** The runtime agents whose own manifest judges their tool calls (GATEHOUSE_SESSION_AGENTS). */
  sessionAgents: string[];
}

export function sessionsConfigFromEnv(env: Record<string, string | undefined>): SessionsConfig {
  const options: Partial<SessionGatewayOptions> = {};
  for (const [name, option] of INTEGER_OPTIONS) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    if (!/^\d{1,12}$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive integer, got '${raw}'`);
    (options as Record<string, number>)[option] = Number(raw);
  }
  const prefix = env.GATEHOUSE_REDIS_PREFIX;
  if (prefix) {
    if (!/^[A-Za-z0-9:_-]{1,64}$/.test(prefix))
      throw new Error(`GATEHOUSE_REDIS_PREFIX must match [A-Za-z0-9:_-]{1,64}`);
    options.redisKeyPrefix = prefix;
  }
  const sessionAgents = (env.GATEHOUSE_SESSION_AGENTS ?? "")
    .split(",")
    .map((a) => a.trim())
    .filter(Boolean);
  return { options, sessionManifest: env.GATEHOUSE_SESSION_MANIFEST || DEFAULT_SESSION_MANIFEST, sessionAgents };
}
