/**
 * Leases: claiming an instance with compare-and-set in the project-wide
 * `instances` scope, renewing it, releasing it, and reading who holds what.
 */
import { CoordinatorError, invalidArgument, isCoordinatorError } from "../errors.ts";
import type { JsonObject, JsonValue } from "../json.ts";
import { isPlainObject } from "../json.ts";
import { resolveScope } from "../scope_names.ts";
import { requireSession } from "./binding.ts";
import {
  type ActiveSession,
  type HeldInstance,
  INSTANCES_SCOPE,
  type LeaseRecord,
  type SessionBinding,
  type SessionContext,
} from "./types.ts";

/**
 * The held instance, renewed first when its lease has run out: a process that
 * was paused past its lease must learn that someone else may hold the
 * instance now before it writes anything as that instance.
 */
export async function liveSession(
  ctx: SessionContext,
  binding: SessionBinding,
): Promise<HeldInstance> {
  const held = requireSession(binding);
  if (Date.parse(held.lease.lease_expires_at) > ctx.now()) return held;
  return await renewLease(ctx, binding);
}

export const AUTO_NAME = /^claude_([1-9][0-9]{0,5})$/;

const SESSION_ID = /^[a-z][a-z0-9_-]{0,63}$/;

/** True when a stored lease is the one this binding wrote (same holder, same claim). */
function isOwnLease(held: HeldInstance, lease: LeaseRecord | null): boolean {
  return lease !== null && lease.session_id === held.sessionId &&
    lease.machine === held.lease.machine && lease.pid === held.lease.pid &&
    lease.since === held.lease.since;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function validateSessionId(id: string): void {
  if (!SESSION_ID.test(id)) {
    throw invalidArgument(
      `session_id ${
        JSON.stringify(id)
      } must be like "claude_2": a lower-case letter, then letters, digits, "_" or "-" (at most 64).`,
    );
  }
}

function asLease(value: JsonValue | undefined): LeaseRecord | null {
  return isPlainObject(value) && typeof value.session_id === "string"
    ? value as unknown as LeaseRecord
    : null;
}

/** Every live lease of the project, by session id. */
export async function readLeases(ctx: SessionContext): Promise<Map<string, LeaseRecord>> {
  const entries = await ctx.storage.listEntries(resolveScope(ctx.identity, INSTANCES_SCOPE));
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
  if (na && nb) return Number(na[1]) - Number(nb[1]);
  if (na) return -1;
  if (nb) return 1;
  return a.session_id < b.session_id ? -1 : a.session_id > b.session_id ? 1 : 0;
}

async function newLease(ctx: SessionContext, sessionId: string, since?: string) {
  const now = ctx.now();
  const tree = await ctx.workTree();
  const lease: LeaseRecord = {
    session_id: sessionId,
    machine: ctx.identity.machine,
    pid: ctx.pid,
    worktree: tree.path,
    branch: tree.branch,
    since: since ?? iso(now),
    last_seen: iso(now),
    lease_expires_at: iso(now + ctx.leaseTtlSeconds * 1000),
  };
  return lease;
}

/** Writes a lease with compare-and-set; null when someone else got there first. */
async function writeLease(
  ctx: SessionContext,
  lease: LeaseRecord,
  ifVersion: number,
): Promise<HeldInstance | null> {
  try {
    const res = await ctx.storage.store(
      resolveScope(ctx.identity, INSTANCES_SCOPE),
      lease.session_id,
      lease as unknown as JsonObject,
      { ifVersion, ttlSeconds: ctx.leaseTtlSeconds, updatedBy: lease.session_id },
    );
    return { sessionId: lease.session_id, version: res.version, lease };
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
export async function claimNamed(ctx: SessionContext, sessionId: string): Promise<HeldInstance> {
  const scope = resolveScope(ctx.identity, INSTANCES_SCOPE);
  // Two tries: the first may lose to a lease that expired between read and write.
  for (let attempt = 0; attempt < 2; attempt++) {
    const current = await ctx.storage.retrieve(scope, sessionId);
    const lease = asLease(current?.value);
    if (current && lease) throw instanceTaken(lease);
    const held = await writeLease(ctx, await newLease(ctx, sessionId), current?.version ?? 0);
    if (held) return held;
  }
  const current = asLease((await ctx.storage.retrieve(scope, sessionId))?.value);
  if (current) throw instanceTaken(current);
  throw new CoordinatorError("INSTANCE_TAKEN", `${sessionId} changed hands while claiming it.`);
}

/** Claims the lowest free auto-numbered instance, retrying past racing claimers. */
export async function claimLowest(ctx: SessionContext): Promise<HeldInstance> {
  const scope = resolveScope(ctx.identity, INSTANCES_SCOPE);
  for (let attempt = 1;; attempt++) {
    const leases = await readLeases(ctx);
    // Any live key counts as taken, even one that is not a lease record:
    // claiming it would conflict for ever.
    const taken = new Set(await ctx.storage.listKeys(scope));
    const id = firstAvailable(taken, ctx.maxInstances);
    if (id === null) {
      const soonest = [...leases.values()]
        .filter((l) => AUTO_NAME.test(l.session_id))
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
    const held = await writeLease(ctx, await newLease(ctx, id), 0);
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
 * Extends the binding's lease. When the lease expired and nobody took the
 * instance, it is quietly re-claimed; when someone else holds it now, the
 * binding is dropped and the reason kept for the next NOT_SIGNED_ON.
 */
export async function renewLease(
  ctx: SessionContext,
  binding: SessionBinding,
): Promise<HeldInstance> {
  const held = requireSession(binding);
  // sign_off, a switch or a concurrent renewal may change the binding while
  // this one awaits; then it must not resurrect a released lease nor drop
  // what the binding holds now.
  const superseded = () => binding.held !== held;
  const fresh = await newLease(ctx, held.sessionId, held.lease.since);
  if (superseded()) return requireSession(binding);
  let renewed = await writeLease(ctx, fresh, held.version);
  if (!renewed) {
    const current = await ctx.storage.retrieve(
      resolveScope(ctx.identity, INSTANCES_SCOPE),
      held.sessionId,
    );
    if (superseded()) return requireSession(binding);
    const other = asLease(current?.value);
    if (!current) renewed = await writeLease(ctx, fresh, 0);
    // A write whose outcome was unknown (a timeout) may have landed: a newer
    // version of our own lease is still ours.
    else if (isOwnLease(held, other)) renewed = await writeLease(ctx, fresh, current.version);
    if (!renewed) {
      if (superseded()) return requireSession(binding);
      binding.held = null;
      binding.lostReason = `The lease on ${held.sessionId} expired and ${
        other ? `another session on ${other.machine} (pid ${other.pid})` : "another session"
      } claimed it.`;
      throw new CoordinatorError("NOT_SIGNED_ON", binding.lostReason + " Call sign_on again.");
    }
  }
  if (superseded()) {
    // The binding let go of this lease while we wrote it: let go of our write too.
    await releaseLease(ctx, renewed);
    return requireSession(binding);
  }
  binding.held = renewed;
  return renewed;
}

export async function releaseLease(ctx: SessionContext, held: HeldInstance): Promise<void> {
  try {
    await ctx.storage.delete(resolveScope(ctx.identity, INSTANCES_SCOPE), held.sessionId, {
      ifVersion: held.version,
    });
  } catch (err) {
    // Someone else holds it already: nothing of ours to release.
    if (!isCoordinatorError(err, "VERSION_CONFLICT")) throw err;
  }
}

/** Releases the binding's instance at once (sign_off, disconnect, signals). */
export async function release(ctx: SessionContext, binding: SessionBinding): Promise<void> {
  const held = binding.held;
  if (!held) return;
  binding.held = null;
  await releaseLease(ctx, held);
}
