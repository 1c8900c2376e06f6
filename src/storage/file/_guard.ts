/**
 * Guards (contract.ts) in the local file adapter: a write holds its own
 * scope's exclusive lock, then takes a SHARED lock on the guard scope's lock
 * file, brings the guard scope up to date from the cache, and checks the
 * guard key, appending only while both locks are held. Writers of the guard
 * scope hold its lock exclusively while they append, so none of them can
 * change the guard key between the check and the write.
 *
 * The shared lock is only ever tried, never waited for, while the write's
 * own lock is held: two writers each guarded by the other's scope would
 * otherwise wait for each other for ever. When it is busy, the write lets
 * its own lock go, waits for the guard scope's lock holding nothing, and
 * starts over (see _write.ts).
 */
import type { JsonValue } from "../../core/json.ts";
import type { Scope } from "../../core/scope.ts";
import type { Guard } from "../contract.ts";
import { guardFailed, guardHolds } from "../values.ts";
import type { FileContext } from "./_context.ts";
import type { HeldLock } from "./_lock.ts";
import { valueOf } from "./_log.ts";
import { isLive, readScope, type ScopeView } from "./_read.ts";

/** What locking a guard scope gave: the shared lock, nothing to lock, or the lock file to wait for. */
export type GuardLock =
  | { kind: "held"; lock: HeldLock }
  | { kind: "none" }
  | { kind: "busy"; lockPath: string };

const NONE: GuardLock = { kind: "none" };

/**
 * Takes the shared lock of the guard's scope without waiting; nothing when
 * there is no guard or it lives in the written scope itself (whose lock the
 * write holds already).
 */
export function lockGuardScope(
  ctx: FileContext,
  guard: Guard | undefined,
  scope: Scope,
): GuardLock {
  if (guard === undefined || guard.scope === scope) return NONE;
  const lockPath = ctx.files(guard.scope as Scope).lockPath;
  const lock = ctx.locks.tryShared(lockPath);
  return lock === null ? { kind: "busy", lockPath } : { kind: "held", lock };
}

/** Lets a guard scope's lock go. */
export function releaseGuardScope(held: GuardLock): void {
  if (held.kind === "held") held.lock.release();
}

/**
 * Throws guardFailed unless the guard holds at `nowMs`. `own` is the written
 * scope as the write sees it, for a guard key in that same scope; another
 * scope is read through the cache (only what was appended since is read).
 * `key` is the key the error names (null for several or for a whole scope).
 */
export function checkGuardNow(
  ctx: FileContext,
  guard: Guard | undefined,
  scope: Scope,
  key: string | null,
  own: ScopeView,
  nowMs: number,
): void {
  if (guard === undefined) return;
  const keys = guard.scope === scope ? own.keys : readScope(ctx, guard.scope as Scope);
  const stored = keys?.get(guard.key);
  const value: JsonValue | undefined = stored !== undefined && isLive(stored, nowMs)
    ? valueOf(stored)
    : undefined;
  if (!guardHolds(guard, value)) throw guardFailed(guard, scope, key);
}
