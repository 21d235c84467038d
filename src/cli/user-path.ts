// A file or folder named on the command line is relative to the folder the command was typed in. Through
// `npm run gatehouse -- …` npm starts the CLI in the package root, whatever folder it was typed in, and says where
// in INIT_CWD: typed in a subfolder, `audit verify export.jsonl` read the package root's export.jsonl (or none).
import { dirname, resolve } from "node:path";

type Env = Record<string, string | undefined>;

/** The folder the user typed the command in. */
function typedIn(env: Env, cwd: string): string {
  // Only when npm chose the working directory (its package's root): a script that changed folder itself
  // (`cd sub && gatehouse …`) already runs where its paths are relative to.
  const npmRoot = env.npm_package_json ? dirname(env.npm_package_json) : undefined;
  return env.INIT_CWD && npmRoot === cwd ? env.INIT_CWD : cwd;
}

/** `path` as the user meant it: absolute, from the folder the command was typed in. */
export function userPath(path: string, env: Env = process.env, cwd = process.cwd()): string {
  return resolve(typedIn(env, cwd), path);
}

/** A URL as it is; a path as the user meant it (`--jwks <file|url>`). */
export function userPathOrUrl(value: string, env: Env = process.env, cwd = process.cwd()): string {
  return /^https?:\/\//i.test(value) ? value : userPath(value, env, cwd);
}
