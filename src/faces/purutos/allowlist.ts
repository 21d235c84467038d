// The one policy on which commands a puruto accepts:
//   the four base commands (always: Gatehouse answers them natively)
//   ∪ skills the puruto really has that the operator allowed (GATEHOUSE_EXTRA_COMMANDS, `*` = all)
//     and that Gatehouse can actually execute (an executable `run`, or a configured agent),
//     whose folder name is a command name (names.ts: no dot, so `<puruto>.<command>` splits one way only).
// The result is what `commands` shows, so a client never sees a command that would answer 400.
import { BASE_COMMANDS, type PurutosConfig } from "./config";
import { isCommandName } from "./names";
import type { SkillInfo } from "./repo";

export function allowedCommands(
  skills: SkillInfo[],
  config: Pick<PurutosConfig, "extraCommands" | "agentCommand">,
): string[] {
  const base: readonly string[] = BASE_COMMANDS;
  const allowAll = config.extraCommands.includes("*");
  const extras = skills
    .filter((skill) => !base.includes(skill.command) && isCommandName(skill.command))
    .filter((skill) => allowAll || config.extraCommands.includes(skill.command))
    .filter((skill) => skill.runPath !== null || config.agentCommand !== null)
    .map((skill) => skill.command)
    .sort();
  return [...base, ...extras];
}
