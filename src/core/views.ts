/**
 * Read-only views of the project for resources and prompts: who is here, what
 * each session is doing, what is free, what to do next.
 */
import { CoordinatorError, formatError, isCoordinatorError } from "./errors.ts";
import type { JsonValue } from "./json.ts";
import { isPlainObject } from "./json.ts";
import { nextStepsSignedOff, nextStepsSignedOn } from "./guidance.ts";
import { readBoard, type TaskCounts } from "./board/tasks.ts";
import { unreadCount } from "./board/messages.ts";
import { liveReservations } from "./board/reservations.ts";
import { resolveScope, scopePrefix } from "./scope_names.ts";
import {
  type ActiveSession,
  activeSessions,
  compareSessionIds,
  firstAvailable,
  isSessionId,
  type LeaseRecord,
  readHandoffs,
  readLeases,
  type SessionBinding,
  type SessionContext,
  sessionScope,
} from "./session/mod.ts";

/** One instance in the context view. */
export interface InstanceStatus {
  session_id: string;
  status: "active" | "available";
  machine: string | null;
  last_seen: string | null;
  lease_expires_at: string | null;
  has_handoff: boolean;
}

/** An active session with what its own scope says it is doing. */
export interface ActiveSessionView extends ActiveSession {
  current_issue: JsonValue;
  status: JsonValue;
  todo_count: number | null;
  open_todo_count: number | null;
  /** Set when the session's own scope cannot be read (the error, with its code); the rest of the view still stands. */
  unreadable?: string;
}

/** The board as the context view shows it. */
export interface BoardSummary {
  counts: TaskCounts;
  /** The best ready tasks (at most 5), in the order claim_task takes them. */
  ready: { task_id: string; title: string; priority: number }[];
  /** The tasks this session holds, with their fencing tokens. */
  mine: { task_id: string; title: string; fencing_token: number | null }[];
  /** Unread messages for this session (0 when not signed on). */
  unread_messages: number;
  /** Live reservations of other sessions. */
  reserved_by_others: {
    path: string;
    session_id: string;
    exclusive: boolean;
    reason: string | null;
    until: string | null;
  }[];
}

/** The `session://context` document. */
export interface ContextView {
  machine: string;
  project: string;
  this_session: { session_id: string; since: string; lease_expires_at: string } | null;
  instances: InstanceStatus[];
  active_sessions: ActiveSessionView[];
  first_available: string | null;
  board: BoardSummary;
  next_steps: string[];
}

const DONE = new Set(["done", "completed", "complete", "closed", "cancelled"]);

/** Counts todos in a `todos` value: all of them, and those not done. */
export function countTodos(value: JsonValue | undefined): { all: number; open: number } | null {
  if (!Array.isArray(value)) return null;
  const open = value.filter((t) => {
    if (!isPlainObject(t)) return true;
    if (t.done === true || t.completed === true) return false;
    return !(typeof t.status === "string" && DONE.has(t.status.toLowerCase()));
  }).length;
  return { all: value.length, open };
}

/** The scope where a live session keeps its own state, on its own machine. */
function stateScopeOf(ctx: SessionContext, lease: LeaseRecord | undefined, sessionId: string) {
  const machine = lease?.machine ?? ctx.identity.machine;
  const rel = machine === ctx.identity.machine
    ? sessionScope(sessionId)
    : `@machine:${machine}:${sessionScope(sessionId)}`;
  return resolveScope(ctx.identity, rel);
}

/**
 * What one active session is doing. A session whose scope cannot be read
 * (a damaged log) is shown as unreadable: one bad scope must not take the
 * whole view down for every session.
 */
async function describeActive(
  ctx: SessionContext,
  lease: LeaseRecord,
  base: ActiveSession,
): Promise<ActiveSessionView> {
  let entries;
  try {
    entries = await ctx.storage.listEntries(stateScopeOf(ctx, lease, lease.session_id));
  } catch (err) {
    if (!isCoordinatorError(err, "CORRUPT_STATE")) throw err;
    return {
      ...base,
      current_issue: null,
      status: null,
      todo_count: null,
      open_todo_count: null,
      unreadable: formatError(err),
    };
  }
  const get = (k: string) => entries.find((e) => e.key === k)?.entry.value;
  const todos = countTodos(get("todos"));
  return {
    ...base,
    current_issue: get("current_issue") ?? get("current_task") ?? null,
    status: get("status") ?? null,
    todo_count: todos?.all ?? null,
    open_todo_count: todos?.open ?? null,
  };
}

/** Builds the `session://context` view for the calling binding. */
export async function buildContext(
  ctx: SessionContext,
  binding: SessionBinding,
): Promise<ContextView> {
  const [leases, handoffs] = await Promise.all([readLeases(ctx), readHandoffs(ctx)]);
  const ids = new Set([...leases.keys(), ...handoffs.keys()]);
  const instances = [...ids].map((id): InstanceStatus => {
    const lease = leases.get(id);
    const handoff = handoffs.get(id);
    return {
      session_id: id,
      status: lease ? "active" : "available",
      machine: lease?.machine ?? handoff?.machine ?? null,
      last_seen: lease?.last_seen ?? handoff?.signed_off_at ?? null,
      lease_expires_at: lease?.lease_expires_at ?? null,
      has_handoff: handoff !== undefined,
    };
  }).sort(compareSessionIds);
  const active = await Promise.all(
    activeSessions(leases).map((s) => describeActive(ctx, leases.get(s.session_id)!, s)),
  );
  const held = binding.held;
  const first = firstAvailable(leases, ctx.maxInstances);
  const board = await summarizeBoard(ctx, held?.sessionId ?? null, held?.grantId ?? null, leases);
  return {
    machine: ctx.identity.machine,
    project: ctx.identity.project,
    this_session: held
      ? {
        session_id: held.sessionId,
        since: held.lease.since,
        lease_expires_at: held.lease.lease_expires_at,
      }
      : null,
    instances,
    active_sessions: active,
    first_available: first,
    board,
    next_steps: held !== null ? nextStepsSignedOn() : nextStepsSignedOff(first, active.length > 0),
  };
}

/** Ready tasks, this session's tasks, its unread messages and others' reservations. */
async function summarizeBoard(
  ctx: SessionContext,
  me: string | null,
  grant: string | null,
  leases: ReadonlyMap<string, LeaseRecord>,
): Promise<BoardSummary> {
  const [{ tasks, counts }, unread, reservations] = await Promise.all([
    readBoard(ctx),
    me === null ? 0 : unreadCount(ctx, me),
    liveReservations(ctx, leases),
  ]);
  const ready = tasks.filter((t) => t.status === "ready")
    .sort((a, b) => (a.rec.order < b.rec.order ? -1 : 1)).slice(0, 5)
    .map(({ rec }) => ({ task_id: rec.task_id, title: rec.title, priority: rec.priority }));
  const mine = tasks.filter((t) => t.status === "in_progress" && t.rec.owner?.grant_id === grant)
    .map(({ rec }) => ({
      task_id: rec.task_id,
      title: rec.title,
      fencing_token: rec.fencing_token,
    }));
  return {
    counts,
    ready,
    mine,
    unread_messages: unread,
    reserved_by_others: reservations.filter((r) => r.reservation.session_id !== me)
      .map(({ reservation: r }) => ({
        path: r.path,
        session_id: r.session_id,
        exclusive: r.exclusive,
        reason: r.reason,
        until: r.until,
      })),
  };
}

/** Every key of a session's own scope plus its lease (`session://state/{id}`). */
export async function readSessionState(
  ctx: SessionContext,
  sessionId: string,
): Promise<
  { session_id: string; scope: string; lease: LeaseRecord | null; state: Record<string, JsonValue> }
> {
  const [leases, handoffs] = await Promise.all([readLeases(ctx), readHandoffs(ctx)]);
  const lease = leases.get(sessionId);
  const scope = stateScopeOf(ctx, lease, sessionId);
  const entries = await ctx.storage.listEntries(scope);
  if (!lease && entries.length === 0 && !handoffs.has(sessionId)) {
    throw new CoordinatorError(
      "INVALID_ARGUMENT",
      `unknown session ${
        JSON.stringify(sessionId)
      }: it holds no lease, has no state and left no handoff. Read session://context for the known instances.`,
      { session_id: sessionId },
    );
  }
  const state: Record<string, JsonValue> = {};
  for (const { key, entry } of entries) state[key] = entry.value;
  return { session_id: sessionId, scope: sessionScope(sessionId), lease: lease ?? null, state };
}

/** Session ids worth offering for completion: leased, handed off, or with state here. */
export async function knownSessionIds(ctx: SessionContext): Promise<string[]> {
  const [leases, handoffs] = await Promise.all([readLeases(ctx), readHandoffs(ctx)]);
  // Machine and project ids hold no glob characters, so the prefix is literal.
  const prefix = scopePrefix(ctx.identity) + sessionScope("");
  const ids = new Set([...leases.keys(), ...handoffs.keys()]);
  for (const s of await ctx.storage.listScopes(prefix + "*")) ids.add(s.slice(prefix.length));
  // Only names that are session ids: a scope such as "session:a/b" is data,
  // not a session, and its session://state URI would not read back.
  return [...ids].filter(isSessionId).map((session_id) => ({ session_id }))
    .sort(compareSessionIds).map((s) => s.session_id);
}
