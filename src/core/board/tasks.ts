/**
 * The work board's tasks: posted with dependencies, claimed race-free by one
 * session at a time, finished or given back. Everything sits on the storage
 * contract (one scope, atomic batches, guards, holder tags), so it behaves
 * the same on every adapter, on one machine or many.
 *
 * The scope `@project:tasks` holds three kinds of keys:
 *
 * - `t:<id>`   the task record (TaskRecord).
 * - `r:<order>` the ready index: one key per task that is open and whose
 *              dependencies are all done, ordered by priority (higher first)
 *              then age. A claim writes the claimer's holder tag onto it, so
 *              a scan for the next task skips live claims and takes claims
 *              whose session is gone: a crashed session's task is ready
 *              again within one lease TTL, with nobody cleaning up.
 * - `d:<id>`   the ids of the tasks that depend on `<id>` (its dependants).
 *
 * A task's status is derived, never stored stale: done or failed from the
 * record; in_progress while its owner's grant still holds the owner's lease;
 * ready when it has a ready-index key; blocked otherwise.
 *
 * Every change is one writeBatch with conditions (versions, and a `check` of
 * the keys it read), so two sessions finishing the last two dependencies of
 * a task at once cannot both miss making it ready: the later batch sees the
 * earlier one's write and retries.
 *
 * @module
 */
import { CoordinatorError, invalidArgument, isCoordinatorError } from "../errors.ts";
import type { JsonObject, JsonValue } from "../json.ts";
import { isPlainObject } from "../json.ts";
import { resolveScope } from "../scope_names.ts";
import { validateKey } from "../scope.ts";
import type { BatchOp, Entry, Guard } from "../../storage/contract.ts";
import { isGuardFailure } from "../../storage/values.ts";
import {
  asOwner,
  type HeldInstance,
  holderAlive,
  holderTag,
  iso,
  type LeaseRecord,
  readLeases,
  type SessionBinding,
  type SessionContext,
} from "../session/mod.ts";
import { TASKS_SCOPE } from "./scopes.ts";
import { randomHex } from "../random.ts";

/** A task's status as everyone sees it. */
export type TaskStatus = "ready" | "blocked" | "in_progress" | "done" | "failed";

/** One event of a task's history. */
export interface TaskEvent {
  at: string;
  by: string;
  event: "posted" | "claimed" | "reclaimed" | "note" | "in_progress" | "done" | "failed" | "ready";
  text?: string;
}

/** A task as stored under `t:<id>`. */
export interface TaskRecord {
  task_id: string;
  title: string;
  description: string | null;
  depends_on: string[];
  labels: string[];
  priority: number;
  /** The key of its ready-index entry (without `r:`), fixed at posting. */
  order: string;
  state: "open" | "done" | "failed";
  /** The session holding the claim, and its grant; null when nobody claimed it. */
  owner: { session_id: string; grant_id: string; machine: string; since: string } | null;
  /** Grows with every grant of this task; null before the first claim. */
  fencing_token: number | null;
  /** How many times it was claimed. */
  attempts: number;
  /** The latest notes (at most MAX_NOTES). */
  notes: { at: string; by: string; text: string }[];
  /** The latest events (at most MAX_HISTORY). */
  history: TaskEvent[];
  created_at: string;
  created_by: string;
  updated_at: string;
}

/** A task as the tools show it. */
export interface TaskView {
  task_id: string;
  title: string;
  status: TaskStatus;
  owner: string | null;
  depends_on: string[];
  labels: string[];
  priority: number;
  attempts: number;
  updated_at: string;
  /** The current claim's fencing token (only for the holder's own view and full views). */
  fencing_token?: number | null;
  description?: string | null;
  notes?: TaskRecord["notes"];
  history?: TaskEvent[];
  /** Dependencies not done yet (blocked tasks). */
  waiting_for?: string[];
}

/** How many tasks are in each status. */
export type TaskCounts = Record<TaskStatus, number>;

const MAX_NOTES = 50;
const MAX_HISTORY = 50;
const MAX_DEPENDS = 100;
/** Keeps a finishing task's batch under MAX_BATCH_OPS (two writes per dependant). */
const MAX_DEPENDANTS = 240;
const MAX_PRIORITY = 1_000_000;
/** How many ready-index keys a claim looks at per round. */
const SCAN_WINDOW = 64;
const MAX_RETRIES = 50;

const T = "t:";
const R = "r:";
const D = "d:";

function scopeOf(ctx: SessionContext): string {
  return resolveScope(ctx.identity, TASKS_SCOPE);
}

function corruptTask(key: string, what: string): CoordinatorError {
  return new CoordinatorError(
    "CORRUPT_STATE",
    `${TASKS_SCOPE} / ${key}: ${what} Delete or repair that key.`,
    { scope: TASKS_SCOPE, key },
  );
}

/** Reads a stored task record; CORRUPT_STATE names the key when it is not one. */
function asTask(key: string, value: JsonValue): TaskRecord {
  if (
    !isPlainObject(value) || typeof value.task_id !== "string" || typeof value.title !== "string" ||
    !Array.isArray(value.depends_on) || typeof value.order !== "string" ||
    typeof value.state !== "string"
  ) {
    throw corruptTask(key, "is not a task record.");
  }
  return value as unknown as TaskRecord;
}

function asIds(key: string, value: JsonValue | undefined): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
    throw corruptTask(key, "is not a list of task ids.");
  }
  return value as string[];
}

/** Refuses a task id that is not a usable key (INVALID_ARGUMENT naming the argument). */
export function validateTaskId(id: unknown, what = "task_id"): string {
  if (typeof id !== "string") throw invalidArgument(`${what} must be a string.`);
  validateKey(id);
  if (id.length > 200) throw invalidArgument(`${what} must be at most 200 characters.`);
  return id;
}

function newTaskId(): string {
  return `task-${randomHex(4)}`;
}

/** The ready-index key of a task: priority (higher first), then posting time, then id. */
function orderKey(priority: number, postedMs: number, id: string): string {
  const rank = String(MAX_PRIORITY - priority).padStart(7, "0");
  return `${rank}:${String(Math.floor(postedMs)).padStart(15, "0")}:${id}`;
}

function push<T>(list: T[], item: T, max: number): T[] {
  return [...list, item].slice(-max);
}

/** The derived status of a record, given the leases and whether it is in the ready index. */
function statusOf(
  rec: TaskRecord,
  leases: ReadonlyMap<string, LeaseRecord>,
  indexed: boolean,
): TaskStatus {
  if (rec.state === "done") return "done";
  if (rec.state === "failed") return "failed";
  if (rec.owner && ownerAlive(rec, leases)) return "in_progress";
  return indexed ? "ready" : "blocked";
}

function ownerAlive(rec: TaskRecord, leases: ReadonlyMap<string, LeaseRecord>): boolean {
  return rec.owner !== null &&
    leases.get(rec.owner.session_id)?.grant_id === rec.owner.grant_id;
}

function view(
  rec: TaskRecord,
  status: TaskStatus,
  full: boolean,
  waitingFor?: string[],
): TaskView {
  const out: TaskView = {
    task_id: rec.task_id,
    title: rec.title,
    status,
    owner: status === "in_progress" ? rec.owner!.session_id : null,
    depends_on: rec.depends_on,
    labels: rec.labels,
    priority: rec.priority,
    attempts: rec.attempts,
    updated_at: rec.updated_at,
  };
  if (waitingFor && waitingFor.length > 0) out.waiting_for = waitingFor;
  if (full) {
    out.fencing_token = rec.fencing_token;
    out.description = rec.description;
    out.notes = rec.notes;
    out.history = rec.history;
  }
  return out;
}

/** Retries `attempt` while it loses compare-and-set races (not guard failures). */
async function retrying<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await attempt();
    } catch (err) {
      const lost = isCoordinatorError(err, "VERSION_CONFLICT") && !isGuardFailure(err);
      if (!lost || i >= MAX_RETRIES) throw err;
      // Back off a little, with jitter, so racing sessions spread out.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * i)));
    }
  }
}

/** Reads several keys of the tasks scope at once. */
async function readMany(ctx: SessionContext, keys: string[]): Promise<Map<string, Entry>> {
  const scope = scopeOf(ctx);
  const entries = await Promise.all(keys.map((k) => ctx.storage.retrieve(scope, k)));
  const out = new Map<string, Entry>();
  keys.forEach((k, i) => {
    const e = entries[i];
    if (e !== null) out.set(k, e);
  });
  return out;
}

function writeBatch(ctx: SessionContext, ops: BatchOp[], held: HeldInstance, guard: Guard) {
  return ctx.storage.writeBatch(scopeOf(ctx), ops, { updatedBy: held.sessionId, guard });
}

// ---------------------------------------------------------------------------
// post_task

/** Arguments of post_task. */
export interface PostTaskArgs {
  title: string;
  description?: string;
  dependsOn?: string[];
  labels?: string[];
  priority?: number;
  taskId?: string;
}

/** The same task content (what reposting an id must match to be idempotent). */
function sameContent(rec: TaskRecord, args: Required<Omit<PostTaskArgs, "taskId">>): boolean {
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  return rec.title === args.title && (rec.description ?? "") === args.description &&
    same(rec.depends_on, args.dependsOn) && same(rec.labels, args.labels) &&
    rec.priority === args.priority;
}

/** Posts a task (post_task). */
export async function postTask(
  ctx: SessionContext,
  binding: SessionBinding,
  args: PostTaskArgs,
): Promise<{ task_id: string; status: TaskStatus; version: number; created: boolean }> {
  const id = args.taskId === undefined ? newTaskId() : validateTaskId(args.taskId);
  const dependsOn = [...new Set(args.dependsOn ?? [])];
  dependsOn.forEach((d, i) => validateTaskId(d, `depends_on[${i}]`));
  if (dependsOn.length > MAX_DEPENDS) {
    throw invalidArgument(
      `depends_on lists ${dependsOn.length} tasks; the limit is ${MAX_DEPENDS}.`,
    );
  }
  if (dependsOn.includes(id)) {
    throw invalidArgument(`depends_on: a cycle: task ${JSON.stringify(id)} depends on itself.`);
  }
  const content = {
    title: args.title,
    description: args.description ?? "",
    dependsOn,
    labels: [...new Set(args.labels ?? [])],
    priority: args.priority ?? 0,
  };
  return await asOwner(ctx, binding, (guard, held) =>
    retrying(async () => {
      const keys = [T + id, ...dependsOn.map((d) => T + d), ...dependsOn.map((d) => D + d)];
      const got = await readMany(ctx, keys);
      const existing = got.get(T + id);
      if (existing) {
        const rec = asTask(T + id, existing.value);
        if (!sameContent(rec, content)) {
          throw new CoordinatorError(
            "VERSION_CONFLICT",
            `task ${
              JSON.stringify(id)
            } already exists with other content; post it under another task_id, or leave task_id out.`,
            { task_id: id, current_version: existing.version },
          );
        }
        const status = await statusNow(ctx, rec);
        return { task_id: id, status, version: existing.version, created: false };
      }
      const deps = dependsOn.map((d) => {
        const e = got.get(T + d);
        if (!e) {
          // A cycle needs the other task to exist already and depend on this
          // one; a task can only depend on tasks posted before it, so an
          // unknown dependency is the only way to name a task not there.
          throw invalidArgument(
            `depends_on: unknown task ${
              JSON.stringify(d)
            }; post it first (list_tasks shows the ids).`,
            { task_id: d },
          );
        }
        return { id: d, entry: e, rec: asTask(T + d, e.value) };
      });
      const now = ctx.storage.now();
      const at = iso(now);
      const rec: TaskRecord = {
        task_id: id,
        title: content.title,
        description: args.description ?? null,
        depends_on: dependsOn,
        labels: content.labels,
        priority: content.priority,
        order: orderKey(content.priority, now, id),
        state: "open",
        owner: null,
        fencing_token: null,
        attempts: 0,
        notes: [],
        history: [{ at, by: held.sessionId, event: "posted" }],
        created_at: at,
        created_by: held.sessionId,
        updated_at: at,
      };
      const ops: BatchOp[] = [{
        op: "set",
        key: T + id,
        value: rec as unknown as JsonObject,
        ifVersion: 0,
      }];
      for (const dep of deps) {
        const listKey = D + dep.id;
        const list = got.get(listKey);
        const ids = asIds(listKey, list?.value);
        if (ids.length >= MAX_DEPENDANTS) {
          throw invalidArgument(
            `depends_on: task ${
              JSON.stringify(dep.id)
            } already has ${MAX_DEPENDANTS} dependants; put an intermediate task between them.`,
          );
        }
        ops.push({ op: "set", key: listKey, value: [...ids, id], ifVersion: list?.version ?? 0 });
        // Finishing the dependency now must not go unseen (module comment).
        ops.push({ op: "check", key: T + dep.id, ifVersion: dep.entry.version });
      }
      const ready = deps.every((d) => d.rec.state === "done");
      if (ready) {
        ops.push({
          op: "set",
          key: R + rec.order,
          value: { task_id: id, labels: rec.labels },
          ifVersion: 0,
        });
      }
      const [written] = await writeBatch(ctx, ops, held, guard);
      const version = written.op === "set" ? written.version : 0;
      return {
        task_id: id,
        status: ready ? "ready" as const : "blocked" as const,
        version,
        created: true,
      };
    }));
}

/** The status of one task right now. */
async function statusNow(ctx: SessionContext, rec: TaskRecord): Promise<TaskStatus> {
  const [leases, indexed] = await Promise.all([
    readLeases(ctx),
    ctx.storage.retrieve(scopeOf(ctx), R + rec.order),
  ]);
  return statusOf(rec, leases, indexed !== null);
}

// ---------------------------------------------------------------------------
// claim_task

/** What claim_task returns. */
export interface ClaimResult {
  task: TaskView | null;
  fencing_token: number | null;
  /** When nothing was ready: how many tasks wait for dependencies, and how many are being worked on. */
  blocked?: number;
  in_progress?: number;
}

/** Claims a task: the named one, or the best ready one (priority, then oldest) (claim_task). */
export async function claimTask(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { taskId?: string; labels?: string[] },
): Promise<ClaimResult> {
  const id = args.taskId === undefined ? undefined : validateTaskId(args.taskId);
  return await asOwner(
    ctx,
    binding,
    (guard, held) =>
      id === undefined
        ? claimNext(ctx, held, guard, args.labels ?? [])
        : retrying(() => claimNamed(ctx, held, guard, id)),
  );
}

async function claimNamed(
  ctx: SessionContext,
  held: HeldInstance,
  guard: Guard,
  id: string,
): Promise<ClaimResult> {
  const scope = scopeOf(ctx);
  const entry = await ctx.storage.retrieve(scope, T + id);
  if (!entry) {
    throw invalidArgument(`unknown task ${JSON.stringify(id)}; list_tasks shows the ids.`, {
      task_id: id,
    });
  }
  const rec = asTask(T + id, entry.value);
  const [leases, index] = await Promise.all([
    readLeases(ctx),
    ctx.storage.retrieve(scope, R + rec.order),
  ]);
  const status = statusOf(rec, leases, index !== null);
  if (status === "in_progress") {
    if (rec.owner!.grant_id === held.grantId) {
      return { task: view(rec, status, true), fencing_token: rec.fencing_token };
    }
    throw taskTaken(rec, leases);
  }
  if (status === "done" || status === "failed") {
    throw invalidArgument(`task ${JSON.stringify(id)} is ${status}; there is nothing to claim.`, {
      task_id: id,
      status,
    });
  }
  if (status === "blocked") {
    const waiting = await waitingFor(ctx, rec);
    throw invalidArgument(
      `task ${JSON.stringify(id)} is blocked: it waits for ${
        waiting.map((w) => JSON.stringify(w)).join(", ")
      } to be done.`,
      { task_id: id, waiting_for: waiting },
    );
  }
  return await grant(ctx, held, guard, rec, entry, index!, leases);
}

function taskTaken(rec: TaskRecord, leases: ReadonlyMap<string, LeaseRecord>): CoordinatorError {
  const owner = rec.owner!;
  const lease = leases.get(owner.session_id);
  return new CoordinatorError(
    "TASK_TAKEN",
    `task ${
      JSON.stringify(rec.task_id)
    } is held by ${owner.session_id} on ${owner.machine} since ${owner.since}${
      lease ? ` (its lease runs to ${lease.lease_expires_at})` : ""
    }.`,
    { task_id: rec.task_id, holder: owner.session_id, machine: owner.machine, since: owner.since },
  );
}

/** Writes a claim: the record and the ready-index key, in one batch, both fenced on their versions. */
async function grant(
  ctx: SessionContext,
  held: HeldInstance,
  guard: Guard,
  rec: TaskRecord,
  entry: Entry,
  index: Entry,
  leases: ReadonlyMap<string, LeaseRecord>,
): Promise<ClaimResult> {
  const at = iso(ctx.storage.now());
  const previous = rec.owner;
  const history = previous
    ? push(rec.history, {
      at,
      by: held.sessionId,
      event: "reclaimed" as const,
      text: `${previous.session_id}'s claim ended without finishing${
        leases.has(previous.session_id) ? " (it lost its lease)" : ""
      }`,
    }, MAX_HISTORY)
    : rec.history;
  // Above every version this record ever had, so every grant's token is larger.
  const token = entry.version + 1;
  const claimed: TaskRecord = {
    ...rec,
    owner: {
      session_id: held.sessionId,
      grant_id: held.grantId,
      machine: held.lease.machine,
      since: at,
    },
    fencing_token: token,
    attempts: rec.attempts + 1,
    history: push(history, { at, by: held.sessionId, event: "claimed" }, MAX_HISTORY),
    updated_at: at,
  };
  await writeBatch(
    ctx,
    [
      {
        op: "set",
        key: T + rec.task_id,
        value: claimed as unknown as JsonObject,
        ifVersion: entry.version,
      },
      {
        op: "set",
        key: R + rec.order,
        value: index.value,
        ifVersion: index.version,
        heldBy: holderTag(held),
      },
    ],
    held,
    guard,
  );
  return { task: view(claimed, "in_progress", true), fencing_token: token };
}

async function claimNext(
  ctx: SessionContext,
  held: HeldInstance,
  guard: Guard,
  labels: string[],
): Promise<ClaimResult> {
  const scope = scopeOf(ctx);
  for (let round = 0; round < MAX_RETRIES; round++) {
    const leases = await readLeases(ctx);
    let limit = SCAN_WINDOW;
    let lost = false;
    for (;;) {
      const window = await ctx.storage.listEntries(scope, { prefix: R, limit });
      for (const { key, entry } of window) {
        // A live claim is skipped; a claim whose session is gone is ready again.
        if (entry.heldBy !== null && holderAlive(leases, entry.heldBy)) continue;
        const indexed = isPlainObject(entry.value) ? entry.value : {};
        const tags = Array.isArray(indexed.labels) ? indexed.labels as string[] : [];
        if (labels.length > 0 && !labels.some((l) => tags.includes(l))) continue;
        if (typeof indexed.task_id !== "string") {
          throw corruptTask(key, "is not a ready-index entry.");
        }
        const id = indexed.task_id;
        const recEntry = await ctx.storage.retrieve(scope, T + id);
        if (!recEntry) continue;
        try {
          return await grant(
            ctx,
            held,
            guard,
            asTask(T + id, recEntry.value),
            recEntry,
            entry,
            leases,
          );
        } catch (err) {
          if (!isCoordinatorError(err, "VERSION_CONFLICT") || isGuardFailure(err)) throw err;
          lost = true; // someone else got it first: try the next one
        }
      }
      if (window.length < limit) break;
      limit *= 4; // everything in the window was taken: look further
    }
    if (!lost) break;
  }
  const counts = await countTasks(ctx);
  return {
    task: null,
    fencing_token: null,
    blocked: counts.blocked,
    in_progress: counts.in_progress,
  };
}

// ---------------------------------------------------------------------------
// update_task

/** Arguments of update_task. */
export interface UpdateTaskArgs {
  taskId: string;
  status?: "in_progress" | "done" | "failed" | "ready";
  note?: string;
  fencingToken?: number;
}

/** Changes a task's status or adds a note; only its holder may (update_task). */
export async function updateTask(
  ctx: SessionContext,
  binding: SessionBinding,
  args: UpdateTaskArgs,
): Promise<TaskView> {
  const id = validateTaskId(args.taskId);
  if (args.status === undefined && args.note === undefined) {
    throw invalidArgument("update_task needs a status, a note, or both.");
  }
  return await asOwner(ctx, binding, (guard, held) =>
    retrying(async () => {
      const scope = scopeOf(ctx);
      const entry = await ctx.storage.retrieve(scope, T + id);
      if (!entry) {
        throw invalidArgument(`unknown task ${JSON.stringify(id)}; list_tasks shows the ids.`);
      }
      const rec = asTask(T + id, entry.value);
      const leases = await readLeases(ctx);
      // A failed task has no holder: anyone may give it back to the board.
      const reopening = rec.state === "failed" && args.status === "ready";
      if (!reopening) checkHolder(rec, held, leases, args.fencingToken);
      const at = iso(ctx.storage.now());
      let next: TaskRecord = { ...rec, updated_at: at };
      if (args.note !== undefined) {
        next.notes = push(rec.notes, { at, by: held.sessionId, text: args.note }, MAX_NOTES);
        next.history = push(next.history, {
          at,
          by: held.sessionId,
          event: "note",
          text: args.note.slice(0, 200),
        }, MAX_HISTORY);
      }
      const ops: BatchOp[] = [];
      const status = args.status;
      if (status !== undefined) {
        next.history = push(next.history, { at, by: held.sessionId, event: status }, MAX_HISTORY);
        if (status === "done" || status === "failed") {
          next = { ...next, state: status, owner: null };
          ops.push({ op: "delete", key: R + rec.order });
          if (status === "done") ops.push(...await unblockDependants(ctx, rec));
        } else if (status === "ready") {
          next = { ...next, state: "open", owner: null };
          const index = await ctx.storage.retrieve(scope, R + rec.order);
          if (index) {
            ops.push({
              op: "set",
              key: R + rec.order,
              value: index.value,
              ifVersion: index.version,
            });
          } else if (reopening && (await waitingFor(ctx, rec)).length === 0) {
            ops.push({
              op: "set",
              key: R + rec.order,
              value: { task_id: id, labels: rec.labels },
              ifVersion: 0,
            });
          }
        }
      }
      ops.unshift({
        op: "set",
        key: T + id,
        value: next as unknown as JsonObject,
        ifVersion: entry.version,
      });
      await writeBatch(ctx, ops, held, guard);
      const shown: TaskStatus = next.state === "open"
        ? (next.owner ? "in_progress" : (await statusNow(ctx, next)))
        : next.state;
      return view(next, shown, true);
    }));
}

/** Throws unless `held` holds the task's current claim (STALE_CLAIM, TASK_TAKEN or INVALID_ARGUMENT). */
function checkHolder(
  rec: TaskRecord,
  held: HeldInstance,
  leases: ReadonlyMap<string, LeaseRecord>,
  token: number | undefined,
): void {
  const mine = rec.owner !== null && rec.owner.grant_id === held.grantId;
  if (token !== undefined && (token !== rec.fencing_token || !mine)) {
    throw new CoordinatorError(
      "STALE_CLAIM",
      `fencing_token ${token} for task ${JSON.stringify(rec.task_id)} is stale: ${
        rec.owner === null
          ? "nobody holds it now"
          : `the current claim is ${rec.owner.session_id}'s (token ${rec.fencing_token})`
      }. Nothing was changed.`,
      { task_id: rec.task_id, fencing_token: token, current_token: rec.fencing_token },
    );
  }
  if (mine) return;
  if (rec.state === "open" && rec.owner !== null && ownerAlive(rec, leases)) {
    throw taskTaken(rec, leases);
  }
  if (rec.owner !== null && rec.owner.session_id === held.sessionId) {
    throw new CoordinatorError(
      "STALE_CLAIM",
      `your earlier claim on task ${
        JSON.stringify(rec.task_id)
      } ended with an earlier session of ${held.sessionId}. Nothing was changed; claim it again.`,
      { task_id: rec.task_id },
    );
  }
  throw invalidArgument(
    `task ${JSON.stringify(rec.task_id)} is not claimed by you (it is ${
      rec.state === "open" ? "unclaimed" : rec.state
    }); claim_task it first.`,
    { task_id: rec.task_id },
  );
}

/**
 * The batch ops that make the finished task's dependants ready when it was
 * their last open dependency, plus the checks that make a concurrent finish
 * of another dependency visible (see the module comment).
 */
async function unblockDependants(ctx: SessionContext, rec: TaskRecord): Promise<BatchOp[]> {
  const scope = scopeOf(ctx);
  const list = await ctx.storage.retrieve(scope, D + rec.task_id);
  const ops: BatchOp[] = [{ op: "check", key: D + rec.task_id, ifVersion: list?.version ?? 0 }];
  const dependants = asIds(D + rec.task_id, list?.value);
  const recs = await readMany(ctx, dependants.map((d) => T + d));
  for (const d of dependants) {
    const entry = recs.get(T + d);
    if (!entry) continue;
    const dep = asTask(T + d, entry.value);
    if (dep.state !== "open") continue;
    const others = dep.depends_on.filter((x) => x !== rec.task_id);
    const otherRecs = await readMany(ctx, others.map((x) => T + x));
    const open = others.find((x) => {
      const e = otherRecs.get(T + x);
      return !e || asTask(T + x, e.value).state !== "done";
    });
    if (open === undefined) {
      ops.push({
        op: "set",
        key: R + dep.order,
        value: { task_id: dep.task_id, labels: dep.labels },
        ifVersion: 0,
      });
    } else {
      const e = otherRecs.get(T + open);
      ops.push({ op: "check", key: T + open, ifVersion: e?.version ?? 0 });
    }
  }
  return ops;
}

/** The dependencies of a task that are not done. */
async function waitingFor(ctx: SessionContext, rec: TaskRecord): Promise<string[]> {
  const got = await readMany(ctx, rec.depends_on.map((d) => T + d));
  return rec.depends_on.filter((d) => {
    const e = got.get(T + d);
    return !e || asTask(T + d, e.value).state !== "done";
  });
}

// ---------------------------------------------------------------------------
// list_tasks and reads without a session

/** Filters of list_tasks. */
export interface ListTasksArgs {
  status?: TaskStatus;
  owner?: string;
  label?: string;
  taskId?: string;
  limit?: number;
}

/** Every task with its derived status (what the views, the dashboard and the CLI read; no session needed). */
export async function readBoard(
  ctx: SessionContext,
): Promise<
  { tasks: { rec: TaskRecord; status: TaskStatus; waiting_for: string[] }[]; counts: TaskCounts }
> {
  const scope = scopeOf(ctx);
  const [records, index, leases] = await Promise.all([
    ctx.storage.listEntries(scope, { prefix: T }),
    ctx.storage.listKeys(scope, { prefix: R }),
    readLeases(ctx),
  ]);
  const indexed = new Set(index.map((k) => k.slice(R.length)));
  const recs = records.map(({ key, entry }) => asTask(key, entry.value));
  const byId = new Map(recs.map((r) => [r.task_id, r]));
  const counts: TaskCounts = { ready: 0, blocked: 0, in_progress: 0, done: 0, failed: 0 };
  const tasks = recs.map((rec) => {
    const status = statusOf(rec, leases, indexed.has(rec.order));
    counts[status]++;
    const waiting_for = status === "blocked"
      ? rec.depends_on.filter((d) => byId.get(d)?.state !== "done")
      : [];
    return { rec, status, waiting_for };
  });
  return { tasks, counts };
}

async function countTasks(ctx: SessionContext): Promise<TaskCounts> {
  return (await readBoard(ctx)).counts;
}

/** The order statuses are shown in: the work going on first, what is finished last. */
export const STATUS_ORDER: Readonly<Record<TaskStatus, number>> = {
  in_progress: 0,
  ready: 1,
  blocked: 2,
  failed: 3,
  done: 4,
};

/**
 * The ready tasks, in claim order, from the ready index: the cost is that of
 * the tasks returned, not of the board (a board of 10,000 tasks is not read
 * whole to show the first 100 ready ones). Counts are left out: they would
 * need the whole board.
 */
async function listReady(
  ctx: SessionContext,
  limit: number,
  label: string | undefined,
): Promise<{ tasks: TaskView[]; more: boolean }> {
  const scope = scopeOf(ctx);
  const leases = await readLeases(ctx);
  const out: TaskView[] = [];
  let window = Math.min(limit + 1, 1000);
  for (;;) {
    const index = await ctx.storage.listEntries(scope, { prefix: R, limit: window });
    out.length = 0;
    let more = false;
    for (const { entry } of index) {
      if (entry.heldBy !== null && holderAlive(leases, entry.heldBy)) continue;
      const v = isPlainObject(entry.value) ? entry.value : {};
      if (label !== undefined && !(Array.isArray(v.labels) && v.labels.includes(label))) continue;
      if (typeof v.task_id !== "string") continue;
      if (out.length === limit) {
        more = true;
        break;
      }
      const rec = await ctx.storage.retrieve(scope, T + v.task_id);
      if (rec) out.push(view(asTask(T + v.task_id, rec.value), "ready", false));
    }
    // Enough found, or the index has no more: done; else look further.
    if (more || index.length < window) return { tasks: [...out], more };
    window *= 4;
  }
}

/** Lists tasks (list_tasks); with task_id, the whole task and its history. */
export async function listTasks(
  ctx: SessionContext,
  args: ListTasksArgs,
): Promise<{ tasks: TaskView[]; counts?: TaskCounts; more: boolean }> {
  if (args.taskId !== undefined) {
    const id = validateTaskId(args.taskId);
    const entry = await ctx.storage.retrieve(scopeOf(ctx), T + id);
    if (!entry) {
      throw invalidArgument(`unknown task ${JSON.stringify(id)}; list_tasks shows the ids.`);
    }
    const rec = asTask(T + id, entry.value);
    const status = await statusNow(ctx, rec);
    const waiting = status === "blocked" ? await waitingFor(ctx, rec) : [];
    const board = await countTasks(ctx);
    return { tasks: [view(rec, status, true, waiting)], counts: board, more: false };
  }
  const limit = args.limit ?? 100;
  if (args.status === "ready" && args.owner === undefined) {
    return await listReady(ctx, limit, args.label);
  }
  const { tasks, counts } = await readBoard(ctx);
  const picked = tasks
    .filter((t) => args.status === undefined || t.status === args.status)
    .filter((t) =>
      args.owner === undefined ||
      (t.status === "in_progress" && t.rec.owner?.session_id === args.owner)
    )
    .filter((t) => args.label === undefined || t.rec.labels.includes(args.label))
    .sort((a, b) =>
      STATUS_ORDER[a.status] - STATUS_ORDER[b.status] ||
      (a.rec.order < b.rec.order ? -1 : a.rec.order > b.rec.order ? 1 : 0)
    );
  return {
    tasks: picked.slice(0, limit).map((t) => view(t.rec, t.status, false, t.waiting_for)),
    counts,
    more: picked.length > limit,
  };
}
