// CLI commands that work on this machine's installation (its data folder and database), not over the API.
// They refuse clearly when no installation is there: minting tokens with a brand-new key, or creating a
// fresh empty database in the wrong folder, would only produce credentials no server accepts.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, loadConfig } from "../config";
import { printable } from "../core/audit/printable";
import { type DevIssuer, loadDevIssuer, loadSharedDevIssuer } from "../core/identity/dev-issuer";
import { isBlankName } from "../core/identity/user-tokens";
import { kyselyOver } from "../core/store/kysely";
import { migrateToLatest } from "../core/store/migrate";
import { type AnyKysely, isPostgresUrl, openPostgres } from "../core/store/postgres";
import { createSharedApiKeys, secretBox } from "../core/store/shared";
import { createSharedSigningKeys } from "../core/store/shared/signing-keys";
import { openDatabase } from "../core/store/sqlite";
import type { CliIo } from "./audit-verify";

/** A failure the user can fix; printed without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

const DEV_ISSUER_FILE = "dev-issuer.private.jwk.json";

function noInstallation(config: Config, missing: string): CliError {
  return new CliError(
    `no Gatehouse installation found: ${missing} does not exist.\n` +
      `Start the server once (gatehouse serve) or point GATEHOUSE_DATA_DIR at its data folder (now ${config.dataDir}).`,
  );
}

/** The longest lifetime `gatehouse token` mints: 30 days. */
const MAX_TOKEN_TTL_SECONDS = 30 * 24 * 3600;
/** The roles Gatehouse reads in a user token (operator API, platform admin, IDE sessions). */
const TOKEN_ROLES = ["operator", "platform_admin", "developer"];

export async function mintToken(
  opts: { sub: string; org?: string; role: string[]; ttl: string },
  io: CliIo,
): Promise<void> {
  // The server refuses a token whose sub names nobody (user-tokens.ts): refused here rather than minted useless.
  if (isBlankName(opts.sub))
    throw new CliError("--sub is blank: name the user the token is for (e.g. --sub alice@example.com)", 2);
  const ttl = Number(opts.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new CliError("--ttl must be a positive number of seconds", 2);
  // A bearer token cannot be recalled (user tokens have no revocation list): its lifetime is its exposure.
  if (ttl > MAX_TOKEN_TTL_SECONDS)
    throw new CliError(
      `--ttl is at most ${MAX_TOKEN_TTL_SECONDS} seconds (30 days); mint a new token when it expires`,
      2,
    );
  const unknown = opts.role.find((role) => !TOKEN_ROLES.includes(role));
  if (unknown !== undefined)
    throw new CliError(`unknown role '${printable(unknown)}': Gatehouse reads ${TOKEN_ROLES.join(", ")}`, 2);
  const config = loadConfig();
  if (config.jwksUrl) {
    throw new CliError("JWKS_URL is set: tokens come from that identity provider, not from Gatehouse's dev issuer", 2);
  }
  const mint = (issuer: DevIssuer) =>
    issuer.mint({ sub: opts.sub, org: opts.org ?? config.defaultOrg, roles: opts.role, ttlSeconds: ttl });
  if (isPostgresUrl(config.databaseUrl)) {
    // A cluster's issuer key is in the shared store (the nodes' GATEHOUSE_SECRET opens it).
    const token = await withInstallation(async (db) => {
      const box = secretBox(installationSecret(config));
      const keys = createSharedSigningKeys(db, { purpose: "dev-issuer", box });
      return mint(await loadSharedDevIssuer(keys, config.jwtIssuer, config.jwtAudience));
    });
    io.stdout(token);
    return;
  }
  const keyFile = join(config.dataDir, DEV_ISSUER_FILE);
  if (!existsSync(keyFile)) throw noInstallation(config, keyFile);
  io.stdout(await mint(await loadDevIssuer(config.dataDir, config.jwtIssuer, config.jwtAudience)));
}

/**
 * The installation's database through Kysely: PostgreSQL when DATABASE_URL names it (the CLI then works
 * against the cluster, given the same GATEHOUSE_SECRET), else the SQLite file — refused when there is none
 * (never created).
 */
async function withInstallation<T>(run: (db: AnyKysely, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  if (isPostgresUrl(config.databaseUrl)) {
    const kysely = openPostgres(config.databaseUrl, { maxConnections: 1 });
    try {
      return await run(kysely, config);
    } finally {
      await kysely.destroy();
    }
  }
  if (!existsSync(config.databaseFile)) throw noInstallation(config, config.databaseFile);
  const db = openDatabase(config.databaseFile);
  try {
    return await run(kyselyOver(db), config);
  } finally {
    db.close();
  }
}

function installationSecret(config: Config): Buffer {
  if (process.env.GATEHOUSE_SECRET) return Buffer.from(process.env.GATEHOUSE_SECRET, "utf8");
  if (isPostgresUrl(config.databaseUrl))
    throw new CliError("DATABASE_URL selects PostgreSQL: set GATEHOUSE_SECRET (the nodes' secret)");
  const file = join(config.dataDir, "secret");
  if (!existsSync(file)) throw noInstallation(config, file);
  return Buffer.from(readFileSync(file, "utf8"), "base64");
}

export async function createKey(opts: { org?: string; label: string }, io: CliIo): Promise<void> {
  await withInstallation(async (db, config) => {
    const store = createSharedApiKeys(db, {
      secret: installationSecret(config),
      envKeys: [],
      defaultOrg: config.defaultOrg,
    });
    const { keyId, key } = await store.create(opts.org ?? config.defaultOrg, opts.label);
    io.stderr(`created ${keyId} for org ${opts.org ?? config.defaultOrg}; the key is shown once, store it now:`);
    io.stdout(key);
  });
}

export async function listKeys(opts: { org?: string }, io: CliIo): Promise<void> {
  await withInstallation(async (db) => {
    let query = db.selectFrom("api_keys").select(["key_id", "org_id", "label", "created_at", "revoked_at"]);
    if (opts.org) query = query.where("org_id", "=", opts.org);
    const rows = await query.orderBy("created_at").execute();
    if (!rows.length) io.stderr("no API keys in the database (keys from PURUTO_GATEWAY_API_KEY are not listed)");
    for (const r of rows) {
      io.stdout(
        `${r.key_id}\t${r.org_id}\t${r.label}\t${r.created_at}\t${r.revoked_at ? `revoked ${r.revoked_at}` : "active"}`,
      );
    }
  });
}

export async function revokeKey(keyId: string, io: CliIo): Promise<void> {
  await withInstallation(async (db) => {
    const result = await db
      .updateTable("api_keys")
      .set({ revoked_at: new Date().toISOString() })
      .where("key_id", "=", keyId)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new CliError(`no active API key ${keyId}`);
    io.stdout(`revoked ${keyId}`);
  });
}

export async function migrate(io: CliIo): Promise<void> {
  const config = loadConfig();
  const report = (applied: string[], where: string) =>
    io.stdout(applied.length === 0 ? `database is up to date (${where})` : `applied: ${applied.join(", ")}`);
  // DATABASE_URL=postgres://… migrates PostgreSQL (nodes starting at once are serialised by the migrator's lock).
  if (isPostgresUrl(config.databaseUrl)) {
    const kysely = openPostgres(config.databaseUrl, { maxConnections: 1 });
    try {
      report(await migrateToLatest(kysely), "PostgreSQL");
    } finally {
      await kysely.destroy();
    }
    return;
  }
  const db = openDatabase(config.databaseFile);
  try {
    report(await migrateToLatest(db), config.databaseFile);
  } finally {
    db.close();
  }
}
