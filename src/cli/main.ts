// The `gatehouse` command line (`npm run -s gatehouse -- <command>`, or `node dist/cli.js` when built).
// `gatehouse --help` lists the commands; each has its own --help. Definitions: ./program.ts.
import { runCli } from "./program";

const code = await runCli(process.argv.slice(2));
// `serve` keeps running (its server holds the event loop); every other command ends here.
if (process.argv[2] !== "serve") process.exit(code);
else if (code !== 0) process.exit(code);
