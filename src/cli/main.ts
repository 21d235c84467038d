// The `gatehouse` command line (`npm run -s gatehouse -- <command>`, or `node dist/cli.js` when built).
// `gatehouse --help` lists the commands; each has its own --help. Definitions: ./program.ts.
// .env is applied and LOG_LEVEL checked before the commands (and the logger they load) are imported.
import { ConfigError, loadConfig, readDotEnv } from "../config";

readDotEnv();
try {
  loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(2);
}
const { runCli } = await import("./program");
const code = await runCli(process.argv.slice(2));
// `serve` keeps running (its server holds the event loop); every other command ends here.
if (process.argv[2] !== "serve" || code !== 0) process.exit(code);
