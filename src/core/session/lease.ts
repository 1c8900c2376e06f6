/**
 * Leases: claiming an instance with compare-and-set in the project-wide
 * `instances` scope, renewing it, releasing it, and reading who holds what.
 *
 * A lease is a key with a storage TTL, so a crashed process loses it after
 * `lease_ttl_seconds` with nobody cleaning up. Each claim mints a grant id
 * that never repeats; renewals, the release and every write a session makes
 * as its instance are fenced on it in the same atomic step as the write
 * (a storage guard), so a session that was paused past its lease, or whose
 * store was wiped, can never act as the instance again: its next call is
 * NOT_SIGNED_ON and nothing is written. An expired lease is never revived,
 * not even when nobody took the instance meanwhile: keys held by the
 * session died with it, and reviving the grant would revive them too.
 */
import { CoordinatorError, invalidArgument, isCoordinatorError } from "../errors.ts";
import type { JsonObject, JsonValue } from "../json.ts";
import { isPlainObject } from "../json.ts";
import { resolveScope } from "../scope_names.ts";
import type { Guard } from "../../storage/contract.ts";
import { isGuardFailure } from "../../storage/values.ts";
import { requireSession } from "./binding.ts";
import {
  type ActiveSession,
  type Handoff,
  HANDOFFS_SCOPE,
  type HeldInstance,
  INSTANCES_SCOPE,
  type LeaseRecord,
  type SessionBinding,
  type SessionContext,
  type WorkTreeInfo,
} from "./types.ts";
import { randomHex } from "../random.ts";

/** Auto-numbered instance names: `claude_` and a number. */
export const AUTO_NAME = /^claude_([1-9][0-9]*)$/;
const SESSION_ID = /^[a-z][a-z0-9_-]{0,63}$/;

/** An ISO-8601 time. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Refuses a session id that is not like `claude_2` (INVALID_ARGUMENT). */
export function validateSessionId(id: string): void {
  if (!SESSION_ID.test(id)) {
    throw invalidArgument(
      `session_id ${
        JSON.stringify(id)
      } must be like "claude_2": a lower-case letter, then letters, digits, "_" or "-" (at most 64).`,
    );
  }
}

/** True for a string that could name an instance. */
export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}

/** A stored value read as a lease record, or null when it is not one. */
export function asLease(value: JsonValue | undefined): LeaseRecord | null {
  return isPlainObject(value) && typeof value.session_id === "string"
    ? value as unknown as LeaseRecord
    : null;
}

/** The full scope of the project's leases. */
export function instancesScope(ctx: SessionContext): string {
  return resolveScope(ctx.identity, INSTANCES_SCOPE);
}

/** The storage guard of a held instance: its lease must still carry its grant. */
export function leaseGuard(ctx: SessionContext, held: HeldInstance): Guard {
  return {
    scope: instancesScope(ctx),
    key: held.sessionId,
    field: "grant_id",
    equals: held.grantId,
  };
}

/** Every live lease of the project, by session id. */
export async function readLeases(ctx: SessionContext): Promise<Map<string, LeaseRecord>> {
  const entries = await ctx.storage.listEntries(instancesScope(ctx));
  const leases = new Map<string, LeaseRecord>();
  for (const { key, entry } of entries) {
    const lease = asLease(entry.value);
    if (lease) leases.set(key, lease);
  }
  return leases;
}

/** The lowest auto-numbered instance with no live lease, or null when capped and full. */
export function firstAvailable(
  leases: { has(id: string): boolean },
  maxInstances?: number,
): string | null {
  for (let n = 1; maxInstances === undefined || n <= maxInstances; n++) {
    const id = `claude_${n}`;
    if (!leases.has(id)) return id;
  }
  return null;
}

/** Live sessions, sorted by instance number then name. */
export function activeSessions(leases: ReadonlyMap<string, LeaseRecord>): ActiveSession[] {
  return [...leases.values()]
    .map((l) => ({
      session_id: l.session_id,
      machine: l.machine,
      since: l.since,
      last_seen: l.last_seen,
      lease_expires_at: l.lease_expires_at,
      worktree: l.worktree,
      branch: l.branch,
    }))
    .sort(compareSessionIds);
}

/** Orders `claude_2` before `claude_10`, then other names alphabetically. */
export function compareSessionIds(a: { session_id: string }, b: { session_id: string }): number {
  const na = AUTO_NAME.exec(a.session_id), nb = AUTO_NAME.exec(b.session_id);
  if (na && nb) {
    // Compare as digit strings: numbers past 2^53 would tie as Numbers.
    return na[1].length - nb[1].length || (na[1] < nb[1] ? -1 : na[1] > nb[1] ? 1 : 0);
  }
  if (na) return -1;
  if (nb) return 1;
  return a.session_id < b.session_id ? -1 : a.session_id > b.session_id ? 1 : 0;
}

/** A fresh grant id: 128 random bits, so no two grants ever share one. */
function newGrantId(): string {
  return randomHex(16);
}

function leaseFor(
  ctx: SessionContext,
  binding: SessionBinding,
  sessionId: string,
  tree: WorkTreeInfo,
): LeaseRecord {
  const now = ctx.storage.now();
  return {
    session_id: sessionId,
    grant_id: newGrantId(),
    machine: ctx.identity.machine,
    pid: binding.holder.pid,
    client: binding.holder.client,
    worktree: tree.path,
    branch: tree.branch,
    since: iso(now),
    last_seen: iso(now),
    lease_expires_at: iso(now + ctx.leaseTtlSeconds * 1000),
  };
}

/** Writes a new lease with compare-and-set; null when someone else got there first. */
async function writeNewLease(
  ctx: SessionContext,
  lease: LeaseRecord,
  ifVersion: number,
): Promise<HeldInstance | null> {
  try {
    await ctx.storage.store(instancesScope(ctx), lease.session_id, lease as unknown as JsonObject, {
      ifVersion,
      ttlSeconds: ctx.leaseTtlSeconds,
      updatedBy: lease.session_id,
    });
    return { sessionId: lease.session_id, grantId: lease.grant_id, lease };
  } catch (err) {
    if (isCoordinatorError(err, "VERSION_CONFLICT")) return null;
    throw err;
  }
}

function instanceTaken(lease: LeaseRecord): CoordinatorError {
  return new CoordinatorError(
    "INSTANCE_TAKEN",
    `${lease.session_id} is held by a live session on ${lease.machine} (pid ${lease.pid}, worktree ${lease.worktree}); last_seen ${lease.last_seen}, lease expires ${lease.lease_expires_at}.`,
    {
      session_id: lease.session_id,
      machine: lease.machine,
      last_seen: lease.last_seen,
      lease_expires_at: lease.lease_expires_at,
    },
  );
}

/** Claims the named instance, or refuses with INSTANCE_TAKEN. */
export async function claimNamed(
  ctx: SessionContext,
  binding: SessionBinding,
  sessionId: string,
  tree: WorkTreeInfo,
): Promise<HeldInstance> {
  const scope = instancesScope(ctx);
  // Two tries: the first may lose to a lease that expired between read and write.
  for (let attempt = 0; attempt < 2; attempt++) {
    const current = await ctx.storage.retrieve(scope, sessionId);
    const lease = asLease(current?.value);
    if (current && lease) throw instanceTaken(lease);
    const held = await writeNewLease(
      ctx,
      leaseFor(ctx, binding, sessionId, tree),
      current?.version ?? 0,
    );
    if (held) return held;
  }
  const current = asLease((await ctx.storage.retrieve(scope, sessionId))?.value);
  if (current) throw instanceTaken(current);
  throw new CoordinatorError("INSTANCE_TAKEN", `${sessionId} changed hands while claiming it.`);
}

/** Claims the lowest free auto-numbered instance, retrying past racing claimers. */
export async function claimLowest(
  ctx: SessionContext,
  binding: SessionBinding,
  tree: WorkTreeInfo,
): Promise<HeldInstance> {
  for (let attempt = 1;; attempt++) {
    const entries = await ctx.storage.listEntries(instancesScope(ctx));
    // Any live key counts as taken, even one that is not a lease record:
    // claiming it would conflict for ever.
    const taken = new Set(entries.map((e) => e.key));
    const id = firstAvailable(taken, ctx.maxInstances);
    if (id === null) {
      const soonest = entries.map((e) => asLease(e.entry.value))
        .filter((l): l is LeaseRecord => l !== null && AUTO_NAME.test(l.session_id))
        .sort((a, b) => a.lease_expires_at.localeCompare(b.lease_expires_at))[0];
      throw new CoordinatorError(
        "INSTANCE_TAKEN",
        `all ${ctx.maxInstances} instances (session.max_instances) are held by live sessions; the first lease to expire is ${soonest?.session_id} at ${soonest?.lease_expires_at} (last_seen ${soonest?.last_seen}).`,
        {
          max_instances: ctx.maxInstances,
          session_id: soonest?.session_id,
          last_seen: soonest?.last_seen,
          lease_expires_at: soonest?.lease_expires_at,
        },
      );
    }
    // ifVersion 0 means "only if absent": of several racers only one wins.
    const held = await writeNewLease(ctx, leaseFor(ctx, binding, id, tree), 0);
    if (held) return held;
    if (attempt >= 100) {
      throw new CoordinatorError(
        "STORAGE_UNAVAILABLE",
        `could not claim an instance after ${attempt} tries: every claim lost a race. Try again.`,
      );
    }
  }
}

/**
 * Why a held instance was lost, read from what the store holds now: another
 * session's lease, or none (expired while this process was paused or could
 * not reach the store, or the store was wiped).
 */
async function lostReason(ctx: SessionContext, held: HeldInstance): Promise<string> {
  let other: LeaseRecord | null = null;
  let released: Handoff["released"];
  try {
    const [lease, handoff] = await Promise.all([
      ctx.storage.retrieve(instancesScope(ctx), held.sessionId),
      ctx.storage.retrieve(resolveScope(ctx.identity, HANDOFFS_SCOPE), held.sessionId),
    ]);
    other = asLease(lease?.value);
    const note = isPlainObject(handoff?.value) ? handoff.value.released : undefined;
    if (isPlainObject(note) && note.grant_id === held.grantId) {
      released = note as unknown as Handoff["released"];
    }
  } catch {
    // The explanation is best effort; the loss itself is certain.
  }
  if (released) {
    return `${held.sessionId} was released by ${released.by} at ${released.at}: ${released.reason}. Nothing was written as ${held.sessionId}; its handoff note is for the next session of ${held.sessionId}.`;
  }
  if (other && other.grant_id !== held.grantId) {
    return `${held.sessionId} was taken over by another session on ${other.machine} (pid ${other.pid}) after this session's lease ran out (it expired at ${held.lease.lease_expires_at}; was this process paused or starved?). Nothing was written as ${held.sessionId}.`;
  }
  return `The lease on ${held.sessionId} ran out at ${held.lease.lease_expires_at} before it could be renewed (this process was paused or could not reach the storage for longer than session.lease_ttl_seconds), or the storage was wiped. Nothing was written as ${held.sessionId}; anything it held is free again.`;
}

/**
 * Drops the binding's instance after its grant failed to fence an act, and
 * returns the NOT_SIGNED_ON to throw. A binding that moved on meanwhile (a
 * sign_off or a switch) is left as it is.
 */
export async function leaseLost(
  ctx: SessionContext,
  binding: SessionBinding,
  held: HeldInstance,
): Promise<CoordinatorError> {
  const reason = await lostReason(ctx, held);
  if (binding.held === held) {
    binding.held = null;
    binding.lostReason = reason;
    ctx.audit?.record({
      kind: "lease_lost",
      outcome: "NOT_SIGNED_ON",
      session_id: held.sessionId,
      pid: binding.holder.pid,
      client: binding.holder.client,
      detail: reason,
    });
  }
  return new CoordinatorError(
    "NOT_SIGNED_ON",
    `${reason} Call sign_on again (pass session_id "${held.sessionId}" to take it back if it is still free).`,
    { session_id: held.sessionId },
  );
}

/**
 * Extends the binding's lease, fenced on its grant: it succeeds only while
 * the lease is live and still this grant's. Otherwise the binding is dropped
 * and NOT_SIGNED_ON says why.
 */
export async function renewLease(
  ctx: SessionContext,
  binding: SessionBinding,
): Promise<HeldInstance> {
  const held = requireSession(binding);
  const now = ctx.storage.now();
  const lease: LeaseRecord = {
    ...held.lease,
    last_seen: iso(now),
    lease_expires_at: iso(now + ctx.leaseTtlSeconds * 1000),
  };
  try {
    await ctx.storage.store(instancesScope(ctx), held.sessionId, lease as unknown as JsonObject, {
      ttlSeconds: ctx.leaseTtlSeconds,
      updatedBy: held.sessionId,
      guard: leaseGuard(ctx, held),
    });
  } catch (err) {
    // sign_off or a switch let go of this lease meanwhile: nothing was lost.
    if (binding.held !== held) return requireSession(binding);
    if (isGuardFailure(err)) throw await leaseLost(ctx, binding, held);
    throw err;
  }
  const renewed = { ...held, lease };
  // Only a binding still on this grant takes the newer record.
  if (binding.held === held) binding.held = renewed;
  return requireSession(binding);
}

/**
 * The held instance, renewed first when its lease has run out by the
 * storage's clock: a process that was paused past its lease must learn that
 * it lost the instance before it reads or writes anything as it.
 */
export async function liveSession(
  ctx: SessionContext,
  binding: SessionBinding,
): Promise<HeldInstance> {
  const held = requireSession(binding);
  if (Date.parse(held.lease.lease_expires_at) > ctx.storage.now()) return held;
  return await renewLease(ctx, binding);
}

/**
 * Runs a write as the binding's instance: `act` gets the guard to pass to
 * every storage write, so the write lands only while the instance is still
 * this binding's, checked in the same atomic step. A failed guard drops the
 * binding and becomes NOT_SIGNED_ON ("nothing was written").
 */
export async function asOwner<T>(
  ctx: SessionContext,
  binding: SessionBinding,
  act: (guard: Guard, held: HeldInstance) => Promise<T>,
): Promise<T> {
  const held = await liveSession(ctx, binding);
  const guard = leaseGuard(ctx, held);
  try {
    return await act(guard, held);
  } catch (err) {
    if (isGuardFailure(err) && isLeaseGuard(err, guard)) throw await leaseLost(ctx, binding, held);
    throw err;
  }
}

function isLeaseGuard(err: CoordinatorError, guard: Guard): boolean {
  const failed = err.details.guard as { scope?: string; key?: string } | undefined;
  return failed?.scope === guard.scope && failed?.key === guard.key;
}

/** Deletes a held lease, but only while it is still this grant's. */
export async function releaseLease(ctx: SessionContext, held: HeldInstance): Promise<void> {
  try {
    await ctx.storage.delete(instancesScope(ctx), held.sessionId, {
      guard: leaseGuard(ctx, held),
    });
  } catch (err) {
    // Expired, or someone else holds it already: nothing of ours to release.
    if (!isGuardFailure(err)) throw err;
  }
}

/** Releases the binding's instance at once (sign_off, disconnect, signals). */
export async function release(ctx: SessionContext, binding: SessionBinding): Promise<void> {
  const held = binding.held;
  if (!held) return;
  binding.held = null;
  await releaseLease(ctx, held);
}
