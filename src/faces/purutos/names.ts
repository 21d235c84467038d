// The one check on names that reach the filesystem: a puruto name (from a URL, registry.json or a folder)
// and a skill/command name must be a plain folder name. Anything that could walk out of a folder —
// `..`, `%2e%2e` (left encoded or decoded), slashes, backslashes, absolute paths, NUL — fails here.
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isPlainName(name: string): boolean {
  return PLAIN_NAME.test(name) && !name.includes("..");
}

/** Folders the scan picks up: `puruto-<something>`. */
export function isPurutoFolderName(name: string): boolean {
  return isPlainName(name) && name.startsWith("puruto-") && name.length > "puruto-".length;
}

/**
 * A skill folder that may be run as a command: letters, digits, `-` and `_` (the grammar of
 * GATEHOUSE_EXTRA_COMMANDS). No dot: /mcp/purutos names a command's tool `<puruto>.<command>` and puruto names
 * may hold dots, so a skill `x.wipe` of `puruto-m` was listed as the same tool as `wipe` of `puruto-m.x` — and
 * calling it ran the other puruto's command.
 */
const COMMAND_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isCommandName(name: string): boolean {
  return COMMAND_NAME.test(name);
}

/** The kinds a puruto is of besides `standard` (seed 000), inferred from a name's prefix. */
export const KNOWN_KINDS = ["puruto-data", "puruto-telegram", "puruto-cron", "puruto-gateway"] as const;

/** Whether a registry entry's declared kind is one of the documented ones (else it is inferred from the name). */
export function isKnownKind(kind: string): boolean {
  return kind === "standard" || (KNOWN_KINDS as readonly string[]).includes(kind);
}
