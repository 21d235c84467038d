// `make run` / `npm start` (node dist/main.js): start Gatehouse. The same as `gatehouse serve`.
import { serveOrExit } from "./cli/serve";

serveOrExit();
