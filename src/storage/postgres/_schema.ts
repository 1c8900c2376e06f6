/**
 * The adapter's tables, and the migrations that create them inside its own
 * schema (storage.config.schema, `csc` by default). Several teams or projects
 * can share one database through different schemas.
 *
 * Layout (schema version 1):
 *
 *   schema_version (version int PRIMARY KEY, applied_at timestamptz)
 *       one row per migration applied.
 *   scopes (name text COLLATE "C" PRIMARY KEY, seq bigint)
 *       one row per scope ever written: the largest version it handed out.
 *       It outlives deleteScope and its keys, so versions never repeat.
 *   entries (scope, ord, key, value, version, updated_at, updated_by,
 *            expires_at, held_by; PRIMARY KEY (scope, ord))
 *       one row per key. `value` is the JSON text as written (jsonb would
 *       reorder keys and refuse "\u0000"); `ord` is the key's sort key (see
 *       _order.ts); `updated_at` is the ISO text as written or restored;
 *       `expires_at` is epoch ms by the adapter's clock, NULL for never,
 *       with a partial index for the sweep.
 *
 * Privileges. Once the schema exists at the current version, the adapter
 * needs only (for a role other than the owner):
 *
 *   GRANT USAGE ON SCHEMA csc TO app;
 *   GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA csc TO app;
 *
 * To create or migrate the tables on first start it needs, in addition,
 * either CREATE on the database (it then creates the schema and owns it):
 *
 *   GRANT CREATE ON DATABASE mydb TO app;
 *
 * or a schema made for it beforehand:
 *
 *   CREATE SCHEMA csc AUTHORIZATION app;
 *
 * LISTEN, NOTIFY and advisory locks need no grant.
 *
 * @module
 */
import { CoordinatorError } from "../../core/errors.ts";
import type { Db, Query } from "./_db.ts";
import { type ErrorMapper, grantsFor, ident } from "./_errors.ts";

/** The schema version this code creates and understands. */
export const SCHEMA_VERSION = 1;

/** Quoted names of the adapter's objects in one schema. */
export interface Tables {
  schema: string;
  scopes: string;
  entries: string;
  versions: string;
  /** The NOTIFY channel of the change feed (a quoted identifier, for LISTEN). */
  channel: string;
  /** The same channel as a plain string, for pg_notify and incoming notifications. */
  channelName: string;
}

/** The names of a (validated) schema's objects. */
export function tablesOf(schema: string): Tables {
  const s = ident(schema);
  const channelName = `${schema}_changes`;
  return {
    schema: s,
    scopes: `${s}.scopes`,
    entries: `${s}.entries`,
    versions: `${s}.schema_version`,
    channel: ident(channelName),
    channelName,
  };
}

/** The statements of each migration, by the version they lead to. */
function migrations(t: Tables): Map<number, string[]> {
  return new Map([
    [1, [
      `CREATE TABLE ${t.scopes} (
        name text COLLATE "C" PRIMARY KEY,
        seq bigint NOT NULL
      )`,
      `CREATE TABLE ${t.entries} (
        scope text COLLATE "C" NOT NULL,
        ord bytea NOT NULL,
        key text NOT NULL,
        value text NOT NULL,
        version bigint NOT NULL,
        updated_at text NOT NULL,
        updated_by text,
        expires_at bigint,
        held_by text,
        PRIMARY KEY (scope, ord)
      )`,
      `CREATE INDEX entries_expiry ON ${t.entries} (expires_at) WHERE expires_at IS NOT NULL`,
    ]],
  ]);
}

/** A fixed first key for pg_advisory_xact_lock: "CSC" and 1, so no other user of advisory locks collides. */
const LOCK_CLASS = 0x43534301;

/** FNV-1a of the schema name as a signed 32-bit integer: the second advisory lock key. */
function lockKey(schema: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(schema)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}

/** What ensureSchema needs. */
export interface SchemaContext {
  db: Db;
  tables: Tables;
  /** The plain schema name and the connecting user, for messages and grants. */
  schema: string;
  user: string;
  database: string;
  errors: ErrorMapper;
}

/**
 * Makes sure the schema exists at SCHEMA_VERSION and that the user may use
 * it. The usual start is one read (the version is current) and one privilege
 * check; otherwise one transaction, serialized by an advisory lock, creates
 * or migrates, so servers starting at once neither race nor fail.
 */
export async function ensureSchema(ctx: SchemaContext): Promise<void> {
  const current = await ctx.db.run((q) => currentVersion(q, ctx.tables));
  if (current !== SCHEMA_VERSION) {
    if (current !== null && current > SCHEMA_VERSION) throw newerSchema(ctx, current);
    await migrate(ctx);
  }
  await checkPrivileges(ctx);
}

/** The schema's version, or null when the schema or its version table is missing. */
async function currentVersion(q: Query, t: Tables): Promise<number | null> {
  // to_regclass is null for a missing schema or table, where a plain SELECT
  // would fail and, inside a transaction, abort it.
  const [row] = await q<{ exists: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS exists",
    [t.versions],
  );
  if (!row.exists) return null;
  const [v] = await q<{ version: number | null }>(
    `SELECT max(version) AS version FROM ${t.versions}`,
  );
  return v.version === null ? null : Number(v.version);
}

/**
 * Creates or migrates the schema under a session-level advisory lock. The
 * transaction starts only once the lock is held: a transaction that waited
 * for the lock inside itself could still see the catalog as it was before
 * the other server's commit (PostgreSQL processes catalog invalidations at
 * transaction start, not after an advisory lock wait), and try to create the
 * tables a second time.
 */
async function migrate(ctx: SchemaContext): Promise<void> {
  const key = [LOCK_CLASS, lockKey(ctx.schema)];
  const progress = { step: "lock" };
  try {
    await ctx.db.run(async (q) => {
      await q("SELECT pg_advisory_lock($1, $2)", key);
      try {
        await q("BEGIN");
        try {
          await migrateLocked(q, ctx, progress);
          await q("COMMIT");
        } catch (err) {
          await q("ROLLBACK").catch(() => {});
          throw err;
        }
      } finally {
        // A broken connection releases the lock with the session.
        await q("SELECT pg_advisory_unlock($1, $2)", key).catch(() => {});
      }
    });
  } catch (err) {
    if (err instanceof CoordinatorError && err.details.sqlstate === "42501") {
      throw cannotCreate(ctx, progress.step, err);
    }
    throw err;
  }
}

/** The migration itself, in a transaction holding the lock; `progress` tells how far it got. */
async function migrateLocked(
  q: Query,
  ctx: SchemaContext,
  progress: { step: string },
): Promise<void> {
  const t = ctx.tables;
  // Another server may have migrated while this one waited for the lock.
  const current = await currentVersion(q, t);
  if (current === SCHEMA_VERSION) return;
  if (current !== null && current > SCHEMA_VERSION) throw newerSchema(ctx, current);
  const [ns] = await q<{ exists: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS exists",
    [ctx.schema],
  );
  if (!ns.exists) {
    progress.step = "schema";
    await q(`CREATE SCHEMA ${t.schema}`);
  }
  progress.step = "tables";
  await q(`CREATE TABLE IF NOT EXISTS ${t.versions} (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  for (const [version, statements] of migrations(t)) {
    if (current !== null && version <= current) continue;
    for (const statement of statements) await q(statement);
    await q(`INSERT INTO ${t.versions} (version) VALUES ($1)`, [version]);
  }
}

/** CONFIG_INVALID for a user that may not create the schema or its tables. */
function cannotCreate(ctx: SchemaContext, step: string, err: CoordinatorError): CoordinatorError {
  const s = ident(ctx.schema);
  const u = ident(ctx.user);
  const fix = step === "schema"
    ? `Either let it create the schema (GRANT CREATE ON DATABASE ${
      ident(ctx.database)
    } TO ${u};) or create it for the user (CREATE SCHEMA ${s} AUTHORIZATION ${u};).`
    : `Make the user the schema's owner (ALTER SCHEMA ${s} OWNER TO ${u};), or let an ` +
      `owner start the adapter once to create the tables and then ${
        grantsFor(ctx.schema, ctx.user)
      }`;
  const cause = err.cause instanceof Error ? err.cause.message : "permission denied";
  return new CoordinatorError(
    "CONFIG_INVALID",
    `storage.config.schema: the user ${u} may not create the adapter's tables in schema ${s} ` +
      `at postgres at ${ctx.errors.where} (${cause}). ${fix}`,
    { field: "storage.config.schema", schema: ctx.schema, host: err.details.host },
  );
}

function newerSchema(ctx: SchemaContext, found: number): CoordinatorError {
  return new CoordinatorError(
    "CONFIG_INVALID",
    `storage.config.schema: schema ${ident(ctx.schema)} at postgres at ${ctx.errors.where} ` +
      `has version ${found}, made by a newer claude-session-coordinator (this one knows up ` +
      `to ${SCHEMA_VERSION}). Upgrade this server, or use another schema.`,
    { field: "storage.config.schema", schema: ctx.schema, found, known: SCHEMA_VERSION },
  );
}

/** CONFIG_INVALID listing the GRANT the user lacks, so it shows at start-up and not mid-session. */
async function checkPrivileges(ctx: SchemaContext): Promise<void> {
  const t = ctx.tables;
  const missing = await ctx.db.run((q) =>
    q<{ tbl: string; priv: string }>(
      `SELECT tbl, priv FROM unnest($1::text[]) AS tbl,
         unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS priv
       WHERE NOT has_table_privilege(tbl, priv)`,
      [[t.scopes, t.entries]],
    )
  );
  if (missing.length === 0) return;
  const list = missing.map((m) => `${m.priv} on ${m.tbl}`).join(", ");
  throw new CoordinatorError(
    "CONFIG_INVALID",
    `storage.config.url: the user ${
      ident(ctx.user)
    } lacks privileges at postgres at ${ctx.errors.where} (${list}). Grant them: ${
      grantsFor(ctx.schema, ctx.user)
    }`,
    { field: "storage.config.url", schema: ctx.schema, missing: missing.map((m) => m.priv) },
  );
}
