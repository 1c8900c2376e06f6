/**
 * What a person does from the admin command line, without being a session:
 * see the project at a glance (every instance, the board, reservations,
 * unread mail, how healthy leases are), and end an instance whose session
 * is stuck. Nothing here knows of the command line; src/cli/ prints it.
 *
 * An admin holds no lease, so nothing it writes can be fenced on its own
 * grant. A forced release is fenced on the grant of the session it ends
 * instead: it lands only while that very session still holds the instance,
 * so it can never end a session that took the instance over meanwhile.
 *
 * @module
 */
import type { AuditEvent } from "./audit.ts";
import { isCoordinatorError } from "./errors.ts";
import type { JsonObject, JsonValue } from "./json.ts";
import { isPlainObject } from "./json.ts";
import { resolveScope } from "./scope_names.ts";
import { readBoard, type TaskCounts } from "./board/tasks.ts";
import { unreadCount } from "./board/messages.ts";
import { liveReservations } from "./board/reservations.ts";
import { isGuardFailure } from "../storage/values.ts";
import type { Guard } from "../storage/contract.ts";
import {
  asLease,
  compareSessionIds,
  type Handoff,
  HANDOFFS_SCOPE,
  instancesScope,
  iso,
  type LeaseRecord,
  readHandoffs,
  readLeases,
  type SessionContext,
  sessionScope,
} from "./session/mod.ts";

/** The `client` of every audit event an admin command records. */
export const ADMIN_CLIENT = "admin cli";

/** One instance as an admin sees it: live (a lease) or available (only a handoff). */
export interface InstanceOverview {
  session_id: string;
  status: "active" | "available";
  machine: string | null;
  pid: number | null;
  client: string | null;
  worktree: string | null;
  branch: string | null;
  since: string | null;
  last_seen: string | null;
  lease_expires_at: string | null;
  /** Time left on the lease by the storage's clock, in ms; null when not active. */
  lease_left_ms: number | null;
  /** The lease's length as last written (expiry minus last_seen), in seconds. */
  lease_ttl_seconds: number | null;
  /**
   * Renewals are late: less than a third of the lease is left, though the
   * heartbeat renews it every third. The process is paused, starved or cut
   * off from the storage, and the instance frees itself when the rest runs out.
   */
  renewal_late: boolean;
  /** Board tasks it holds (in progress under its current grant). */
  tasks: { task_id: string; title: string }[];
  /** `current_issue` (or `current_task`) from its own scope, if it wrote one. */
  current_issue: JsonValue;
  /** Unread messages waiting for the instance (to it, or to all). */
  unread_messages: number;
  /** The handoff waiting for its next holder, if any. */
  handoff: { signed_off_at: string; summary: string | null; received_at: string | null } | null;
  /** Set when its own scope cannot be read (the error); the rest still stands. */
  unreadable?: string;
}

/** The project at a glance (the `status` and `sessions` commands). */
export interface Overview {
  project: string;
  machine: string;
  /** When it was read, by the storage's clock. */
  at: string;
  storage: { adapter: string; reachable: true; round_trip_ms: number };
  /** Every instance with a live lease or a handoff, claude_2 before claude_10. */
  instances: InstanceOverview[];
  tasks: TaskCounts;
  reservations: {
    path: string;
    session_id: string;
    exclusive: boolean;
    reason: string | null;
    until: string | null;
    machine: string;
    worktree: string;
  }[];
  /** Unread messages over every listed instance. */
  unread_messages: number;
  lease_health: { live: number; late: string[] };
}

/**
 * Reads the overview. Needs no session and writes nothing. The first read
 * is timed as the storage's round trip; a storage that cannot be reached
 * throws STORAGE_UNAVAILABLE from it.
 */
export async function readOverview(ctx: SessionContext): Promise<Overview> {
  const started = performance.now();
  const leases = await readLeases(ctx);
  const roundTripMs = performance.now() - started;
  const [handoffs, board, reservations] = await Promise.all([
    readHandoffs(ctx),
    readBoard(ctx),
    liveReservations(ctx, leases),
  ]);
  const nowMs = ctx.storage.now();
  const ids = [...new Set([...leases.keys(), ...handoffs.keys()])]
    .map((session_id) => ({ session_id })).sort(compareSessionIds).map((s) => s.session_id);
  const instances = await Promise.all(ids.map(async (id): Promise<InstanceOverview> => {
    const lease = leases.get(id) ?? null;
    const handoff = handoffs.get(id) ?? null;
    const [unread, state] = await Promise.all([
      unreadCount(ctx, id),
      lease ? currentIssue(ctx, lease) : { value: null, unreadable: undefined },
    ]);
    const tasks = lease === null ? [] : board.tasks
      .filter((t) => t.status === "in_progress" && t.rec.owner?.grant_id === lease.grant_id)
      .map(({ rec }) => ({ task_id: rec.task_id, title: rec.title }));
    return {
      session_id: id,
      status: lease ? "active" : "available",
      machine: lease?.machine ?? handoff?.machine ?? null,
      pid: lease?.pid ?? null,
      client: lease?.client ?? null,
      worktree: lease?.worktree ?? handoff?.worktree ?? null,
      branch: lease?.branch ?? handoff?.branch ?? null,
      since: lease?.since ?? null,
      last_seen: lease?.last_seen ?? handoff?.signed_off_at ?? null,
      lease_expires_at: lease?.lease_expires_at ?? null,
      ...leaseHealth(lease, nowMs),
      tasks,
      current_issue: state.value,
      unread_messages: unread,
      handoff: handoff && {
        signed_off_at: handoff.signed_off_at,
        summary: handoff.summary,
        received_at: handoff.received_at ?? null,
      },
      ...(state.unreadable ? { unreadable: state.unreadable } : {}),
    };
  }));
  return {
    project: ctx.identity.project,
    machine: ctx.identity.machine,
    at: iso(nowMs),
    storage: {
      adapter: ctx.storage.name,
      reachable: true,
      round_trip_ms: Math.round(roundTripMs * 100) / 100,
    },
    instances,
    tasks: board.counts,
    reservations: reservations.map(({ reservation: r }) => ({
      path: r.path,
      session_id: r.session_id,
      exclusive: r.exclusive,
      reason: r.reason,
      until: r.until,
      machine: r.machine,
      worktree: r.worktree,
    })),
    unread_messages: instances.reduce((n, i) => n + i.unread_messages, 0),
    lease_health: {
      live: leases.size,
      late: instances.filter((i) => i.renewal_late).map((i) => i.session_id),
    },
  };
}

/** How much of a lease is left, and whether its renewals are late (see InstanceOverview). */
function leaseHealth(lease: LeaseRecord | null, nowMs: number) {
  if (lease === null) {
    return { lease_left_ms: null, lease_ttl_seconds: null, renewal_late: false };
  }
  const expires = Date.parse(lease.lease_expires_at);
  const ttlMs = expires - Date.parse(lease.last_seen);
  const left = Math.max(0, expires - nowMs);
  return {
    lease_left_ms: left,
    lease_ttl_seconds: Number.isFinite(ttlMs) ? Math.round(ttlMs / 1000) : null,
    renewal_late: Number.isFinite(ttlMs) && left < ttlMs / 3,
  };
}

/** The scope where a live session keeps its own state (on its own machine). */
function stateScopeOf(ctx: SessionContext, lease: LeaseRecord): string {
  const rel = lease.machine === ctx.identity.machine
    ? sessionScope(lease.session_id)
    : `@machine:${lease.machine}:${sessionScope(lease.session_id)}`;
  return resolveScope(ctx.identity, rel);
}

/** What a session says it works on; a scope that cannot be read is reported, not thrown. */
async function currentIssue(
  ctx: SessionContext,
  lease: LeaseRecord,
): Promise<{ value: JsonValue; unreadable: string | undefined }> {
  try {
    const scope = stateScopeOf(ctx, lease);
    const [issue, task] = await Promise.all([
      ctx.storage.retrieve(scope, "current_issue"),
      ctx.storage.retrieve(scope, "current_task"),
    ]);
    return { value: issue?.value ?? task?.value ?? null, unreadable: undefined };
  } catch (err) {
    if (!isCoordinatorError(err, "CORRUPT_STATE") && !isCoordinatorError(err, "INVALID_ARGUMENT")) {
      throw err;
    }
    return { value: null, unreadable: `${err.code}: ${err.message}` };
  }
}

/** The live lease of an instance, or null. */
export async function readLease(
  ctx: SessionContext,
  sessionId: string,
): Promise<LeaseRecord | null> {
  return asLease((await ctx.storage.retrieve(instancesScope(ctx), sessionId))?.value);
}

/** Who releases: the admin's machine and process. */
export interface AdminActor {
  machine: string;
  pid: number;
}

/** What forceRelease is asked to do. */
export interface ReleaseRequest {
  sessionId: string;
  /** Why; goes into the handoff and the audit log. */
  reason: string;
  /**
   * The grant the person confirmed (from the lease they were shown): the
   * release happens only while this grant still holds the instance.
   * Omitted: whatever session holds it now.
   */
  grantId?: string;
  /** HEAD of the released session's worktree, when the caller could read it. */
  commit?: string | null;
  by: AdminActor;
}

/** How a forced release ended. */
export type ReleaseOutcome =
  | { released: true; lease: LeaseRecord; handoff: Handoff }
  | {
    released: false;
    /** not_held: no live lease; changed_hands: another grant holds it now (or it signed off meanwhile). */
    why: "not_held" | "changed_hands";
    /** The lease there now, if any. */
    lease: LeaseRecord | null;
  };

/**
 * Ends a session that is stuck: leaves a handoff for the instance's next
 * holder saying who released it and why (carrying over the handoff the
 * stuck session started from), deletes its lease, and records
 * `admin:release` in the audit log. Its tasks in progress are ready again
 * and its reservations end with the lease; the process itself learns at
 * its next act (NOT_SIGNED_ON, nothing written), since every write it makes
 * is fenced on the grant that is gone.
 *
 * The handoff is written first, then the lease deleted, both fenced on the
 * released grant: a new session can only claim the instance once the lease
 * is gone, and then finds the handoff.
 */
export async function forceRelease(
  ctx: SessionContext,
  request: ReleaseRequest,
): Promise<ReleaseOutcome> {
  const { sessionId, reason, by } = request;
  const lease = await readLease(ctx, sessionId);
  if (lease === null) return { released: false, why: "not_held", lease: null };
  if (request.grantId !== undefined && lease.grant_id !== request.grantId) {
    return { released: false, why: "changed_hands", lease };
  }
  const guard: Guard = {
    scope: instancesScope(ctx),
    key: sessionId,
    field: "grant_id",
    equals: lease.grant_id,
  };
  const handoffs = resolveScope(ctx.identity, HANDOFFS_SCOPE);
  const previous = asHandoff((await ctx.storage.retrieve(handoffs, sessionId))?.value);
  const at = iso(ctx.storage.now());
  const handoff = releaseHandoff(lease, previous, { ...request, at });
  try {
    await ctx.storage.store(handoffs, sessionId, handoff as unknown as JsonObject, {
      updatedBy: null,
      guard,
    });
    if (!await ctx.storage.delete(instancesScope(ctx), sessionId, { guard })) {
      return { released: false, why: "changed_hands", lease: await readLease(ctx, sessionId) };
    }
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    const now = await readLease(ctx, sessionId);
    return { released: false, why: now === null ? "not_held" : "changed_hands", lease: now };
  }
  recordAdmin(ctx, "release", by, { session_id: sessionId, detail: reason });
  return { released: true, lease, handoff };
}

function asHandoff(value: JsonValue | undefined): Handoff | null {
  return isPlainObject(value) && typeof value.session_id === "string"
    ? value as unknown as Handoff
    : null;
}

/** The note a forced release leaves for the instance's next holder. */
function releaseHandoff(
  lease: LeaseRecord,
  previous: Handoff | null,
  request: ReleaseRequest & { at: string },
): Handoff {
  const id = lease.session_id;
  const by = `the admin command line on ${request.by.machine} (pid ${request.by.pid})`;
  const nextSteps = [
    `Read session:${id} (current_issue, status, todos) for what the released session got done, and check its worktree ${lease.worktree} for uncommitted work, before continuing.`,
  ];
  if (previous !== null) {
    nextSteps.push(
      `The handoff it started from (left ${previous.signed_off_at}${
        previous.summary ? `: ${previous.summary}` : ""
      }) listed these next steps; check which are done:`,
      ...previous.next_steps,
    );
  }
  return {
    session_id: id,
    machine: lease.machine,
    summary: `${id} was released by ${by} at ${request.at}: ${request.reason}. ` +
      `It was held by pid ${lease.pid} on ${lease.machine} since ${lease.since} ` +
      `(last seen ${lease.last_seen}) and did not sign off, so it left no summary of its own.`,
    next_steps: nextSteps,
    signed_off_at: request.at,
    worktree: lease.worktree,
    branch: lease.branch,
    commit: request.commit ?? null,
    released: { at: request.at, by, reason: request.reason, grant_id: lease.grant_id },
  };
}

/**
 * Records what an admin command did, as `admin:<command>` by the admin
 * command line (in the background, like every audit event; flush the sink
 * before the process exits).
 */
export function recordAdmin(
  ctx: SessionContext,
  command: string,
  by: AdminActor,
  event: Partial<Pick<AuditEvent, "session_id" | "detail" | "outcome" | "scope">> = {},
): void {
  ctx.audit?.record({
    kind: `admin:${command}`,
    outcome: event.outcome ?? "ok",
    session_id: event.session_id ?? null,
    pid: by.pid,
    client: ADMIN_CLIENT,
    ...(event.detail !== undefined ? { detail: event.detail } : {}),
    ...(event.scope !== undefined ? { scope: event.scope } : {}),
  });
}
