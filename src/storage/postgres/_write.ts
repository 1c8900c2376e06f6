/**
 * Writes: each is one transaction that checks every condition and applies
 * every change, then notifies the change feed in the same transaction (so a
 * notification leaves only if the write commits).
 *
 * Concurrency: every write to a scope first locks the scope's row in the
 * scopes table (FOR UPDATE), so writers of one scope take turns and each sees
 * the last one's commit: compare-and-set has no window between check and
 * write, also for keys that do not exist yet. A guard's row is locked FOR
 * SHARE until commit, so whoever takes over the guard key waits for this
 * write, or this write sees the takeover.
 *
 * Versions: a scope's counter row outlives its keys and deleteScope. The
 * next version is above both the counter and versionSeed(now), so versions
 * never repeat even when the counter was lost (tables truncated, or a backup
 * restored from before the last writes).
 *
 * @module
 */
import type { BatchResult, Entry, Guard } from "../contract.ts";
import { versionSeed } from "../contract.ts";
import type { CheckedOp } from "../values.ts";
import { expiryFromTtl, guardFailed, guardHolds, versionConflict } from "../values.ts";
import type { Query } from "./_db.ts";
import { sortKey } from "./_order.ts";
import { corruptRow, type PgContext } from "./_read.ts";

/** Most expired rows one sweep deletes, so a sweep is always a short transaction. */
export const SWEEP_BATCH = 1000;
/**
 * A row is swept this long after it expired. It is invisible from its expiry
 * on; the grace only keeps a process whose clock estimate runs a little
 * behind from seeing a key vanish under a compare-and-set it just read for.
 */
const SWEEP_GRACE_MS = 1000;

/** Locks the scope's counter row, creating it when `create`; returns its seq, or null when absent. */
async function lockScope(
  q: Query,
  ctx: PgContext,
  scope: string,
  create: boolean,
): Promise<number | null> {
  const t = ctx.tables;
  for (;;) {
    const [row] = await q<{ seq: string }>(
      `SELECT seq FROM ${t.scopes} WHERE name = $1 FOR UPDATE`,
      [scope],
    );
    if (row !== undefined) return Number(row.seq);
    if (!create) return null;
    // Two first writers: one inserts, the other waits for its commit and
    // then finds the row, which it locks on the next turn of the loop.
    await q(`INSERT INTO ${t.scopes} (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, [
      scope,
    ]);
  }
}

/** Throws the guard failure unless the guard key is live and holds, keeping its row locked. */
async function checkGuard(
  q: Query,
  ctx: PgContext,
  guard: Guard | undefined,
  scope: string,
  key: string | null,
  nowMs: number,
): Promise<void> {
  if (guard === undefined) return;
  const [row] = await q<{ value: string; expires_at: string | null }>(
    `SELECT value, expires_at FROM ${ctx.tables.entries}
     WHERE scope = $1 AND ord = $2 FOR SHARE`,
    [guard.scope, sortKey(guard.key)],
  );
  const live = row !== undefined && (row.expires_at === null || Number(row.expires_at) > nowMs);
  let value;
  if (live) {
    try {
      value = JSON.parse(row.value);
    } catch {
      throw corruptRow(ctx, guard.scope, guard.key, "its value is not JSON");
    }
  }
  if (!guardHolds(guard, value)) throw guardFailed(guard, scope, key);
}

/** Tells the change feed, in the writing transaction, that `scope` changed. */
async function notify(q: Query, ctx: PgContext, scope: string): Promise<void> {
  await q("SELECT pg_notify($1, $2)", [ctx.tables.channelName, scope]);
}

/**
 * Checks every condition of a batch (guard, then each ifVersion, `check`
 * steps included), then applies every write, in one transaction: all or
 * nothing.
 */
export function applyBatch(
  ctx: PgContext,
  scope: string,
  ops: CheckedOp[],
  updatedBy: string | null,
  guard: Guard | undefined,
): Promise<BatchResult[]> {
  const t = ctx.tables;
  return ctx.db.transaction(async (q) => {
    const sets = ops.filter((op) => op.op === "set");
    const seq = await lockScope(q, ctx, scope, sets.length > 0);
    // Read after the lock: expiry is judged at the moment of writing, not of waiting.
    const nowMs = ctx.now();
    await checkGuard(q, ctx, guard, scope, ops.length === 1 ? ops[0].key : null, nowMs);
    if (ops.length === 0) return [];

    const current = new Map<string, number>();
    if (seq !== null) {
      const rows = await q<{ key: string; version: string; expires_at: string | null }>(
        `SELECT key, version, expires_at FROM ${t.entries}
         WHERE scope = $1 AND ord = ANY($2::bytea[])`,
        [scope, ops.map((op) => sortKey(op.key))],
      );
      for (const row of rows) {
        const live = row.expires_at === null || Number(row.expires_at) > nowMs;
        if (live) current.set(row.key, Number(row.version));
      }
    }
    for (const op of ops) {
      const version = current.get(op.key) ?? 0;
      if (op.ifVersion !== undefined && op.ifVersion !== version) {
        throw versionConflict(scope, op.key, op.ifVersion, version);
      }
    }

    const at = new Date(nowMs).toISOString();
    const base = Math.max(seq ?? 0, versionSeed(nowMs));
    const versions = new Map<string, number>();
    const expiries = new Map<string, number | null>();
    sets.forEach((op, i) => {
      versions.set(op.key, base + i + 1);
      expiries.set(op.key, op.op === "set" ? expiryFromTtl(op.ttlSeconds, nowMs) : null);
    });
    if (sets.length > 0) {
      await q(
        `INSERT INTO ${t.entries} AS e
           (scope, ord, key, value, version, updated_at, updated_by, expires_at, held_by)
         SELECT $1, u.ord, u.key, u.value, u.version, $2, $3, u.expires_at, u.held_by
         FROM unnest($4::bytea[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[])
           AS u(ord, key, value, version, expires_at, held_by)
         ON CONFLICT (scope, ord) DO UPDATE SET
           key = EXCLUDED.key, value = EXCLUDED.value, version = EXCLUDED.version,
           updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by,
           expires_at = EXCLUDED.expires_at, held_by = EXCLUDED.held_by`,
        [
          scope,
          at,
          updatedBy,
          sets.map((op) => sortKey(op.key)),
          sets.map((op) => op.key),
          sets.map((op) => op.op === "set" ? op.text : ""),
          sets.map((op) => versions.get(op.key)),
          sets.map((op) => expiries.get(op.key)),
          sets.map((op) => op.op === "set" ? op.heldBy : null),
        ],
      );
      await q(`UPDATE ${t.scopes} SET seq = $2 WHERE name = $1`, [scope, base + sets.length]);
    }
    const deletes = ops.filter((op) => op.op === "delete");
    // Deleting an expired row purges it, but it was no live key: not "deleted".
    const deleted = new Set<string>();
    if (deletes.length > 0 && seq !== null) {
      const rows = await q<{ key: string; expires_at: string | null }>(
        `DELETE FROM ${t.entries} WHERE scope = $1 AND ord = ANY($2::bytea[])
         RETURNING key, expires_at`,
        [scope, deletes.map((op) => sortKey(op.key))],
      );
      for (const row of rows) {
        if (row.expires_at === null || Number(row.expires_at) > nowMs) deleted.add(row.key);
      }
    }
    if (sets.length > 0 || deleted.size > 0) await notify(q, ctx, scope);
    return ops.map((op): BatchResult => {
      if (op.op === "check") return { op: "check" };
      if (op.op === "delete") return { op: "delete", deleted: deleted.has(op.key) };
      const expires = expiries.get(op.key) ?? null;
      return {
        op: "set",
        version: versions.get(op.key)!,
        updatedAt: at,
        expiresAt: expires === null ? null : new Date(expires).toISOString(),
      };
    });
  });
}

/** Writes an exported entry as it was; later versions of the scope go above it. */
export function restoreEntry(
  ctx: PgContext,
  scope: string,
  key: string,
  text: string,
  entry: Entry,
  expiresMs: number | null,
  heldBy: string | null,
): Promise<void> {
  const t = ctx.tables;
  return ctx.db.transaction(async (q) => {
    await lockScope(q, ctx, scope, true);
    await q(
      `INSERT INTO ${t.entries}
         (scope, ord, key, value, version, updated_at, updated_by, expires_at, held_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (scope, ord) DO UPDATE SET
         key = EXCLUDED.key, value = EXCLUDED.value, version = EXCLUDED.version,
         updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by,
         expires_at = EXCLUDED.expires_at, held_by = EXCLUDED.held_by`,
      [
        scope,
        sortKey(key),
        key,
        text,
        entry.version,
        entry.updatedAt,
        entry.updatedBy,
        expiresMs,
        heldBy,
      ],
    );
    await q(`UPDATE ${t.scopes} SET seq = GREATEST(seq, $2) WHERE name = $1`, [
      scope,
      entry.version,
    ]);
    await notify(q, ctx, scope);
  });
}

/** Deletes every key of a scope (its counter stays); true when one of them was live. */
export function removeScope(
  ctx: PgContext,
  scope: string,
  guard: Guard | undefined,
): Promise<boolean> {
  const t = ctx.tables;
  return ctx.db.transaction(async (q) => {
    const seq = await lockScope(q, ctx, scope, false);
    const nowMs = ctx.now();
    await checkGuard(q, ctx, guard, scope, null, nowMs);
    if (seq === null) return false;
    const [counts] = await q<{ total: string; live: string }>(
      `WITH gone AS (DELETE FROM ${t.entries} WHERE scope = $1 RETURNING expires_at)
       SELECT count(*) AS total,
              count(*) FILTER (WHERE expires_at IS NULL OR expires_at > $2) AS live
       FROM gone`,
      [scope, nowMs],
    );
    if (Number(counts.total) > 0) await notify(q, ctx, scope);
    return Number(counts.live) > 0;
  });
}

/**
 * Deletes up to SWEEP_BATCH rows that expired (plus the grace) by the
 * adapter's clock, skipping rows a writer holds; returns how many.
 */
export async function sweepExpired(ctx: PgContext): Promise<number> {
  const t = ctx.tables;
  const rows = await ctx.db.run((q) =>
    q<{ n: string }>(
      `WITH gone AS (
         DELETE FROM ${t.entries} WHERE (scope, ord) IN (
           SELECT scope, ord FROM ${t.entries} WHERE expires_at <= $1
           LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING 1)
       SELECT count(*) AS n FROM gone`,
      [ctx.now() - SWEEP_GRACE_MS, SWEEP_BATCH],
    )
  );
  return Number(rows[0].n);
}
