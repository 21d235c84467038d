// For tests that need a command-line tool (docker-compose, kubectl…): is it installed? Outside CI a test file
// skips with a message naming the tool and how to install it; in CI (CI=true) a missing tool is a failure, so a
// check that cannot run never turns into a silently green run. `.ci/run` installs them.
import { spawnSync } from "node:child_process";

export function toolInstalled(command: string): boolean {
  const probe = spawnSync(command, ["version"], { stdio: "ignore", timeout: 30_000 });
  return probe.error === undefined;
}

/** true when the tests needing `command` should run; warns naming the tool when they are skipped. */
export function shouldRunToolTests(suite: string, command: string, install: string): boolean {
  if (toolInstalled(command)) return true;
  const message = `${suite}: ${command} is not installed (${install})`;
  if (process.env.CI === "true") throw new Error(`${message}; CI=true: ${command} is required`);
  console.warn(`${message} — skipped`);
  return false;
}
