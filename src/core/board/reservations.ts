/**
 * File reservations: "I am editing these files". A reservation is held by
 * its session like a task claim (it ends when the session signs off or its
 * lease lapses), or, with ttl_seconds, lives for that long even if the
 * session ends. Overlap is judged between globs (path_globs.ts). A
 * reservation is granted all or nothing, and two sessions reserving
 * overlapping paths at once cannot both win: every grant also bumps the
 * scope's `epoch` key with compare-and-set in the same batch, so the later
 * one re-checks against the earlier one's reservation.
 *
 * Keys of `@project:reservations`:
 * - `epoch`                 bumped by every grant.
 * - `p:<session>:<hash>`    one reservation (Reservation).
 *
 * The git pre-commit guard (src/cli/guard.ts) reads them without a session.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { CoordinatorError, invalidArgument, isCoordinatorError } from "../errors.ts";
import type { JsonObject } from "../json.ts";
import { isPlainObject } from "../json.ts";
import { resolveScope } from "../scope_names.ts";
import type { BatchOp } from "../../storage/contract.ts";
import { isGuardFailure } from "../../storage/values.ts";
import {
  asOwner,
  holderAlive,
  holderTag,
  iso,
  type LeaseRecord,
  readLeases,
  type SessionBinding,
  type SessionContext,
} from "../session/mod.ts";
import { normalizePathGlob, overlaps } from "./path_globs.ts";
import { RESERVATIONS_SCOPE } from "./scopes.ts";

/** One reservation as stored. */
export interface Reservation {
  path: string;
  exclusive: boolean;
  reason: string | null;
  session_id: string;
  machine: string;
  /** The worktree of the reserving session: the guard lets that worktree's own commits through. */
  worktree: string;
  reserved_at: string;
  /** The TTL's end, for a reservation with ttl_seconds; null when held by the session. */
  expires_at: string | null;
}

/** A live reservation with when it ends (for held ones: the holder's lease expiry). */
export interface LiveReservation extends Reservation {
  /** When it ends unless renewed: the TTL's end, or the holder's current lease expiry. */
  until: string | null;
}

const MAX_PATHS = 100;
const MAX_RETRIES = 50;

function scopeOf(ctx: SessionContext): string {
  return resolveScope(ctx.identity, RESERVATIONS_SCOPE);
}

function keyOf(sessionId: string, path: string): string {
  return `p:${sessionId}:${createHash("sha256").update(path).digest("hex").slice(0, 24)}`;
}

function asReservation(value: unknown): Reservation | null {
  return isPlainObject(value) && typeof value.path === "string" &&
      typeof value.session_id === "string"
    ? value as unknown as Reservation
    : null;
}

/** Every live reservation of the project (no session needed: the guard and the dashboard read it). */
export async function liveReservations(
  ctx: SessionContext,
  leases?: ReadonlyMap<string, LeaseRecord>,
): Promise<{ key: string; version: number; reservation: LiveReservation }[]> {
  const [entries, current] = await Promise.all([
    ctx.storage.listEntries(scopeOf(ctx), { prefix: "p:" }),
    leases ?? readLeases(ctx),
  ]);
  const out = [];
  for (const { key, entry } of entries) {
    const r = asReservation(entry.value);
    if (r === null || !holderAlive(current, entry.heldBy)) continue;
    const until = r.expires_at ?? current.get(r.session_id)?.lease_expires_at ?? null;
    out.push({ key, version: entry.version, reservation: { ...r, until } });
  }
  return out;
}

function conflictError(
  conflicts: { path: string; with: LiveReservation }[],
): CoordinatorError {
  const lines = conflicts.map(({ path, with: r }) =>
    `${path} (reserved as ${r.path} by ${r.session_id}${r.reason ? `: ${r.reason}` : ""}; until ${
      r.until ?? "released"
    })`
  );
  return new CoordinatorError(
    "PATHS_RESERVED",
    `nothing was reserved; ${
      conflicts.length === 1 ? "this path is" : "these paths are"
    } reserved by another session: ${lines.join("; ")}.`,
    {
      conflicts: conflicts.map(({ path, with: r }) => ({
        path,
        reserved: r.path,
        holder: r.session_id,
        reason: r.reason,
        exclusive: r.exclusive,
        until: r.until,
      })),
    },
  );
}

/** Reserves paths, all or nothing (reserve_paths). */
export async function reservePaths(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { paths: string[]; exclusive?: boolean; reason?: string; ttlSeconds?: number },
): Promise<{ granted: LiveReservation[] }> {
  if (args.paths.length === 0) throw invalidArgument("paths must list at least one path.");
  if (args.paths.length > MAX_PATHS) {
    throw invalidArgument(`paths lists ${args.paths.length}; the limit is ${MAX_PATHS}.`);
  }
  const paths = [...new Set(args.paths.map(normalizePathGlob))];
  const exclusive = args.exclusive ?? true;
  const scope = scopeOf(ctx);
  return await asOwner(ctx, binding, async (guard, held) => {
    for (let attempt = 1;; attempt++) {
      const [live, epoch] = await Promise.all([
        liveReservations(ctx),
        ctx.storage.retrieve(scope, "epoch"),
      ]);
      const conflicts = [];
      for (const path of paths) {
        for (const { reservation: r } of live) {
          if (r.session_id === held.sessionId) continue;
          if (!exclusive && !r.exclusive) continue; // two shared reservations coexist
          if (overlaps(path, r.path)) conflicts.push({ path, with: r });
        }
      }
      if (conflicts.length > 0) throw conflictError(conflicts);
      const now = ctx.storage.now();
      const expires = args.ttlSeconds === undefined ? null : iso(now + args.ttlSeconds * 1000);
      const granted: LiveReservation[] = paths.map((path) => ({
        path,
        exclusive,
        reason: args.reason ?? null,
        session_id: held.sessionId,
        machine: held.lease.machine,
        worktree: held.lease.worktree,
        reserved_at: iso(now),
        expires_at: expires,
        until: expires ?? held.lease.lease_expires_at,
      }));
      const ops: BatchOp[] = [
        { op: "set", key: "epoch", value: { at: iso(now) }, ifVersion: epoch?.version ?? 0 },
        ...granted.map(({ until: _until, ...r }): BatchOp => ({
          op: "set",
          key: keyOf(held.sessionId, r.path),
          value: r as unknown as JsonObject,
          ...(args.ttlSeconds === undefined
            ? { heldBy: holderTag(held) }
            : { ttlSeconds: args.ttlSeconds }),
        })),
      ];
      try {
        await ctx.storage.writeBatch(scope, ops, { updatedBy: held.sessionId, guard });
        return { granted };
      } catch (err) {
        // Someone else reserved meanwhile: check again against theirs.
        if (
          isCoordinatorError(err, "VERSION_CONFLICT") && !isGuardFailure(err) &&
          attempt < MAX_RETRIES
        ) {
          continue;
        }
        throw err;
      }
    }
  });
}

/** Releases this session's reservations: the given paths, or all of them (release_paths). */
export async function releasePaths(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { paths?: string[] },
): Promise<{ released: string[] }> {
  const wanted = args.paths === undefined ? null : new Set(args.paths.map(normalizePathGlob));
  const scope = scopeOf(ctx);
  return await asOwner(ctx, binding, async (guard, held) => {
    const mine = (await ctx.storage.listEntries(scope, { prefix: `p:${held.sessionId}:` }))
      .map(({ key, entry }) => ({ key, version: entry.version, r: asReservation(entry.value) }))
      .filter((m) => m.r !== null && (wanted === null || wanted.has(m.r.path)));
    if (mine.length > 0) {
      await ctx.storage.writeBatch(
        scope,
        mine.map(({ key }): BatchOp => ({ op: "delete", key })),
        { updatedBy: held.sessionId, guard },
      );
    }
    return { released: mine.map((m) => m.r!.path) };
  });
}
