/**
 * Reads: one statement each, so each sees one committed state. Expired rows
 * are filtered by the adapter's clock in the statement itself, so they are
 * invisible at once, whether or not the sweep has purged them yet.
 *
 * @module
 */
import { CoordinatorError } from "../../core/errors.ts";
import type { JsonValue } from "../../core/json.ts";
import type { Entry, ExportedKey } from "../contract.ts";
import { compareStrings } from "../values.ts";
import type { Db } from "./_db.ts";
import { likePrefix, prefixRange, sortKey } from "./_order.ts";
import type { Tables } from "./_schema.ts";

/** What reads and writes share. */
export interface PgContext {
  db: Db;
  tables: Tables;
  /** The adapter's clock (epoch ms), which judges expiry. */
  now: () => number;
  /** "host:port" and the schema, for CORRUPT_STATE messages. */
  where: string;
  schema: string;
}

/** A row of the entries table as node-postgres returns it (bigint as text). */
export interface EntryRow {
  key: string;
  value: string;
  version: string;
  updated_at: string;
  updated_by: string | null;
  expires_at: string | null;
  held_by: string | null;
}

/** The columns of an EntryRow, for SELECT lists. */
export const ENTRY_COLUMNS = "key, value, version, updated_at, updated_by, expires_at, held_by";

/** Builds an Entry from a row, or throws CORRUPT_STATE naming the row. */
export function toEntry(ctx: PgContext, scope: string, row: EntryRow): Entry {
  let value: JsonValue;
  try {
    value = JSON.parse(row.value);
  } catch (err) {
    throw corruptRow(ctx, scope, row.key, `its value is not JSON (${(err as Error).message})`);
  }
  const version = Number(row.version);
  if (!Number.isSafeInteger(version) || version < 1) {
    throw corruptRow(ctx, scope, row.key, `its version ${row.version} is not a positive integer`);
  }
  return {
    value,
    version,
    updatedAt: row.updated_at,
    updatedBy: row.updated_by,
    expiresAt: row.expires_at === null ? null : new Date(Number(row.expires_at)).toISOString(),
    heldBy: row.held_by,
  };
}

/** CORRUPT_STATE for one row of the entries table. */
export function corruptRow(
  ctx: PgContext,
  scope: string,
  key: string,
  what: string,
): CoordinatorError {
  return new CoordinatorError(
    "CORRUPT_STATE",
    `postgres at ${ctx.where}: the row of ${scope} / ${key} in ${ctx.tables.entries} is ` +
      `unreadable: ${what}. Repair or delete that row (delete_scope removes the whole scope).`,
    { adapter: "postgres", schema: ctx.schema, scope, key },
  );
}

/** Reads one live key. */
export async function readEntry(ctx: PgContext, scope: string, key: string) {
  const t = ctx.tables;
  const [row] = await ctx.db.run((q) =>
    q<EntryRow>(
      `SELECT ${ENTRY_COLUMNS} FROM ${t.entries}
       WHERE scope = $1 AND ord = $2 AND (expires_at IS NULL OR expires_at > $3)`,
      [scope, sortKey(key), ctx.now()],
    )
  );
  return row === undefined ? null : toEntry(ctx, scope, row);
}

/** Live keys of a scope in the contract's order, from the index: a range scan for a prefix. */
export async function readEntries(
  ctx: PgContext,
  scope: string,
  prefix: string,
  limit: number,
): Promise<ExportedKey[]> {
  if (limit === 0) return [];
  const t = ctx.tables;
  const { lo, hi } = prefixRange(prefix);
  const rows = await ctx.db.run((q) =>
    q<EntryRow>(
      `SELECT ${ENTRY_COLUMNS} FROM ${t.entries}
       WHERE scope = $1 AND ord >= $2 AND ($3::bytea IS NULL OR ord < $3)
         AND (expires_at IS NULL OR expires_at > $4)
       ORDER BY ord LIMIT $5`,
      [scope, lo, hi, ctx.now(), limit === Infinity ? null : limit],
    )
  );
  return rows.map((row) => ({ key: row.key, entry: toEntry(ctx, scope, row) }));
}

/** Live keys of a scope without their values. */
export async function readKeys(
  ctx: PgContext,
  scope: string,
  prefix: string,
  limit: number,
): Promise<string[]> {
  if (limit === 0) return [];
  const t = ctx.tables;
  const { lo, hi } = prefixRange(prefix);
  const rows = await ctx.db.run((q) =>
    q<{ key: string }>(
      `SELECT key FROM ${t.entries}
       WHERE scope = $1 AND ord >= $2 AND ($3::bytea IS NULL OR ord < $3)
         AND (expires_at IS NULL OR expires_at > $4)
       ORDER BY ord LIMIT $5`,
      [scope, lo, hi, ctx.now(), limit === Infinity ? null : limit],
    )
  );
  return rows.map((row) => row.key);
}

/**
 * Scopes with a live key that match an fnmatch glob (`regex` is the glob's
 * compiled form, from globToRegExp). The scopes table is searched by the
 * glob's literal start (an index range, not every scope), each candidate's
 * liveness is one index probe, and the RegExp has the last word.
 */
export async function readScopes(
  ctx: PgContext,
  pattern: string | undefined,
  regex: RegExp | null,
): Promise<string[]> {
  const t = ctx.tables;
  const rows = await ctx.db.run((q) =>
    q<{ name: string }>(
      `SELECT s.name FROM ${t.scopes} s
       WHERE s.name LIKE $1
         AND EXISTS (SELECT 1 FROM ${t.entries} e
                     WHERE e.scope = s.name AND (e.expires_at IS NULL OR e.expires_at > $2))`,
      [likePrefix(pattern), ctx.now()],
    )
  );
  return rows.map((row) => row.name).filter((name) => regex === null || regex.test(name))
    .sort(compareStrings);
}
