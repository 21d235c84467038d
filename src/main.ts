// `make run` / `npm start` (node dist/main.js): start Gatehouse. The same as `gatehouse serve`.
// The configuration is read (and .env applied) before any module that logs is loaded: the logger takes
// LOG_LEVEL at load time, so a bad value must be reported here, naming its variable, not as a stack trace.
import { checkDataDir, ConfigError, loadConfig, readDotEnv } from "./config";

readDotEnv();
try {
  checkDataDir(loadConfig().dataDir);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(2);
}
const { serveOrExit } = await import("./cli/serve");
serveOrExit();
