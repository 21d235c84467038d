// The one policy on which commands a puruto accepts:
//   the four base commands (always: Gatehouse answers them natively)
//   ∪ skills the puruto really has that the operator allowed (GATEHOUSE_EXTRA_COMMANDS, `*` = all)
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
): string[] {
  const base: readonly string[] = BASE_COMMANDS;
  const extras = skills
    .filter((skill) => !base.includes(skill.command) && isCommandName(skill.command))
    .filter((skill) => operatorAllowed(config, skill.command))
    .filter((skill) => skill.runPath !== null || config.agentCommand !== null)
    .map((skill) => skill.command)
    .sort();
  return [...base, ...extras];
}

/** Whether `init` runs the puruto's own run script (named in GATEHOUSE_EXTRA_COMMANDS) rather than natively. */
export function runsOwnInit(config: Pick<PurutosConfig, "extraCommands">): boolean {
  return operatorAllowed(config, "init");
}

function operatorAllowed(config: Pick<PurutosConfig, "extraCommands">, command: string): boolean {
  return config.extraCommands.includes("*") || config.extraCommands.includes(command);
}
