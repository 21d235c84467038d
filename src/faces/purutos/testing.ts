// Test helpers: throw-away ecosystems on disk (mkdtemp), shaped like real purutos.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { PurutosConfig } from "./config";

export interface SkillSpec {
  description?: string;
  userInvocable?: boolean;
  /** Body of SKILL.md after the front matter. */
  body?: string;
  /** Raw SKILL.md (overrides everything else), e.g. to test broken front matter. */
  raw?: string;
  /** Content of an executable `run` script. */
  run?: string;
}

export interface PurutoSpec {
  readme?: string;
  version?: string;
  envExample?: string;
  env?: string;
  claudeMd?: boolean;
  /** Skills besides the four base ones (which are always created unless `baseSkills: false`). */
  skills?: Record<string, SkillSpec>;
  baseSkills?: boolean;
}

export async function tempDir(prefix = "gatehouse-purutos-"): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function writePuruto(root: string, name: string, spec: PurutoSpec = {}): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "README.md"), spec.readme ?? `# ${name}\n\nThe ${name} puruto.\n`);
  if (spec.claudeMd !== false) await writeFile(path.join(dir, "CLAUDE.md"), `# ${name}\n`);
  await writeFile(path.join(dir, ".puruto-standard-version"), `${spec.version ?? "0.2.0"}\n`);
  await writeFile(path.join(dir, ".env.example"), spec.envExample ?? "API_TOKEN=\n");
  if (spec.env !== undefined) await writeFile(path.join(dir, ".env"), spec.env);
  const skills: Record<string, SkillSpec> = {};
  if (spec.baseSkills !== false) {
    for (const base of ["init", "help", "list", "status"]) skills[base] = { description: `Base ${base}` };
  }
  Object.assign(skills, spec.skills ?? {});
  for (const [skill, skillSpec] of Object.entries(skills)) await writeSkill(dir, skill, skillSpec);
  return dir;
}

export async function writeSkill(purutoDir: string, skill: string, spec: SkillSpec): Promise<void> {
  const skillDir = path.join(purutoDir, ".claude", "skills", skill);
  await mkdir(skillDir, { recursive: true });
  const text =
    spec.raw ??
    [
      "---",
      `name: ${skill}`,
      `description: ${spec.description ?? `Skill ${skill}`}`,
      `user-invocable: ${spec.userInvocable ?? true}`,
      "---",
      "",
      spec.body ?? `# /${skill}\n`,
    ].join("\n");
  await writeFile(path.join(skillDir, "SKILL.md"), text);
  if (spec.run !== undefined) {
    const runFile = path.join(skillDir, "run");
    await writeFile(runFile, spec.run);
    await chmod(runFile, 0o755);
  }
}

export function testConfig(overrides: Partial<PurutosConfig> & { ecosystemRoot: string }): PurutosConfig {
  return {
    dataPath: null,
    commandTimeoutMs: 10_000,
    commandOutputLimit: 1024 * 1024,
    extraCommands: [],
    agentCommand: null,
    agentEnv: [],
    maxConcurrentCommands: 16,
    cacheTtlMs: 60_000,
    ...overrides,
  };
}
