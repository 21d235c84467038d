// The one policy on which commands a puruto accepts:
//   the four base commands (always: Gatehouse answers them natively)
//   ∪ skills the puruto really has that the operator allowed (GATEHOUSE_EXTRA_COMMANDS: `<puruto>:<command>`
//     trusts that puruto's command only; a bare `<command>` trusts it in every puruto, present and future; `*` = all)
//     and that Gatehouse can actually execute (an executable `run`, or a configured agent),
//     whose folder name is a command name (names.ts: no dot, so `<puruto>.<command>` splits one way only).
// The result is what `commands` shows, so a client never sees a command that would answer 400.
// A base command is always accepted, but `init` runs the puruto's own `.claude/skills/init/run` only when the
// operator named `init` (or `*`) in GATEHOUSE_EXTRA_COMMANDS (`runsOwnInit`); otherwise it is answered natively,
// so an operator who allows nothing runs no puruto code.
import { BASE_COMMANDS, type PurutosConfig } from "./config";
import { isCommandName } from "./names";
import type { SkillInfo } from "./repo";

export function allowedCommands(
  skills: SkillInfo[],
  config: Pick<PurutosConfig, "extraCommands" | "agentCommand">,
  puruto: string,
): string[] {
  const base: readonly string[] = BASE_COMMANDS;
  const extras = skills
    .filter((skill) => !base.includes(skill.command) && isCommandName(skill.command))
    .filter((skill) => operatorAllowed(config, puruto, skill.command))
    .filter((skill) => skill.runPath !== null || config.agentCommand !== null)
    .map((skill) => skill.command)
    .sort();
  return [...base, ...extras];
}

/** Whether `init` runs the puruto's own run script (named in GATEHOUSE_EXTRA_COMMANDS) rather than natively. */
export function runsOwnInit(config: Pick<PurutosConfig, "extraCommands">, puruto: string): boolean {
  return operatorAllowed(config, puruto, "init");
}

// Exact, case-sensitive matches only: the entries were validated at start-up (config.ts), and a rogue
// `puruto-financial2` or `Puruto-financial` is another folder, so it must not match `puruto-financial:balance`.
function operatorAllowed(config: Pick<PurutosConfig, "extraCommands">, puruto: string, command: string): boolean {
  const entries = config.extraCommands;
  return entries.includes("*") || entries.includes(command) || entries.includes(`${puruto}:${command}`);
}
