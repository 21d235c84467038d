// One pino logger for the whole process. Level from LOG_LEVEL (the session seed's variable, any case).
import { pino, type Logger } from "pino";

export type { Logger };

export const logger: Logger = pino({
  level: (process.env.LOG_LEVEL ?? (process.env.NODE_ENV === "test" ? "silent" : "info")).toLowerCase(),
  base: { service: "gatehouse" },
  // Never log credentials, whatever module forgets to strip them.
  redact: {
    paths: ["req.headers.authorization", 'req.headers["x-api-key"]', "*.api_key", "*.token", "*.secret"],
    censor: "[redacted]",
  },
});
