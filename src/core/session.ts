/**
 * Instances, leases and handoffs. A session signs on as an instance
 * (`claude_1`, `claude_2`, …) by writing a lease with compare-and-set into the
 * project-wide `instances` scope; the lease carries a storage TTL, so a crashed
 * process loses it after `lease_ttl_seconds` without anyone cleaning up.
 *
 * Nothing here is global: the caller passes the SessionContext (what the server
 * shares) and a SessionBinding (who is calling). The stdio transport binds one
 * binding to its process; an HTTP transport binds one per client.
 */
import { CoordinatorError, invalidArgument, isCoordinatorError } from "./errors.ts";
import type { JsonObject, JsonValue } from "./json.ts";
import { isPlainObject } from "./json.ts";
import { type ProjectIdentity, resolveScope } from "./scope_names.ts";
import type { StorageAdapter } from "../storage/contract.ts";

/** Where a session works: its worktree path, branch and HEAD commit. */
export interface WorkTreeInfo {
  path: string;
  branch: string | null;
  head: string | null;
}

/** What every session of one server shares. */
export interface SessionContext {
  storage: StorageAdapter;
  identity: ProjectIdentity;
  leaseTtlSeconds: number;
  /** Cap on auto-numbered instances; undefined means the pool grows as needed. */
  maxInstances?: number;
  /** Reads the session's worktree (path, branch, HEAD) when asked. */
  workTree: () => Promise<WorkTreeInfo>;
  /** Milliseconds since the epoch; injectable for tests. */
  now: () => number;
  /** Process id recorded in the lease, so a human can find the holder. */
  pid: number;
}

/** The instance a binding holds, as last written. */
export interface HeldInstance {
  sessionId: string;
  /** Storage version of the lease record; renewals compare-and-set on it. */
  version: number;
  lease: LeaseRecord;
}

/** Who is calling: one per stdio process or per HTTP client. */
export interface SessionBinding {
  held: HeldInstance | null;
  /** Why the last lease was lost, shown by NOT_SIGNED_ON until the next sign_on. */
  lostReason: string | null;
  /**
   * sign_on and sign_off of one binding run one at a time: a client may send
   * two at once, and interleaved claims would leave an instance held that the
   * binding no longer knows about.
   */
  turn: Promise<unknown>;
}

/** The lease record stored for a held instance. */
export interface LeaseRecord {
  session_id: string;
  machine: string;
  pid: number;
  worktree: string;
  branch: string | null;
  since: string;
  last_seen: string;
  lease_expires_at: string;
}

/** A handoff left by sign_off for the next session of the same instance. */
export interface Handoff {
  session_id: string;
  machine: string;
  summary: string | null;
  next_steps: string[];
  signed_off_at: string;
  worktree: string;
  branch: string | null;
  commit: string | null;
  /** When a session first signed on and received this handoff; absent until then. */
  received_at?: string;
  /** The process that received it, to tell a crashed receiver from a live one. */
  received_by_pid?: number;
}

/** A live session as others see it. */
export interface ActiveSession {
  session_id: string;
  machine: string;
  since: string;
  last_seen: string;
  lease_expires_at: string;
  worktree: string;
  branch: string | null;
}

/** What sign_on returns. */
export interface SignOnResult {
  machine: string;
  project: string;
  session_id: string;
  full_scope_prefix: string;
  lease_expires_at: string;
  /** "claimed" for a new claim, "renewed" when this binding already held it. */
  claim: "claimed" | "renewed";
  handoff: Handoff | null;
  active_sessions: ActiveSession[];
}

/** Scope (relative) of the project-wide leases. */
export const INSTANCES_SCOPE = "@project:instances";
/** Scope (relative) of the project-wide handoffs. */
export const HANDOFFS_SCOPE = "@project:handoffs";
const AUTO_NAME = /^claude_([1-9][0-9]{0,5})$/;
const SESSION_ID = /^[a-z][a-z0-9_-]{0,63}$/;

/** A fresh binding holding nothing. */
export function createBinding(): SessionBinding {
  return { held: null, lostReason: null, turn: Promise.resolve() };
}

/** The relative scope of a session's own state, as in the reference server. */
export function sessionScope(sessionId: string): string {
  return `session:${sessionId}`;
}

/** The held instance, or NOT_SIGNED_ON telling the agent what to do. */
export function requireSession(binding: SessionBinding): HeldInstance {
  if (binding.held) return binding.held;
  const why = binding.lostReason ? ` ${binding.lostReason}` : "";
  throw new CoordinatorError(
    "NOT_SIGNED_ON",
    `this session has not signed on.${why}`,
  );
}

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

/** Runs `fn` after every earlier sign_on/sign_off of the binding has settled. */
function inTurn<T>(binding: SessionBinding, fn: () => Promise<T>): Promise<T> {
  const run = binding.turn.then(fn, fn);
  binding.turn = run.catch(() => {});
  return run;
}

/** True when a stored lease is the one this binding wrote (same holder, same claim). */
function isOwnLease(held: HeldInstance, lease: LeaseRecord | null): boolean {
  return lease !== null && lease.session_id === held.sessionId &&
    lease.machine === held.lease.machine && lease.pid === held.lease.pid &&
    lease.since === held.lease.since;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function validateSessionId(id: string): void {
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

function asHandoff(value: JsonValue | undefined): Handoff | null {
  return isPlainObject(value) && typeof value.session_id === "string"
    ? value as unknown as Handoff
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

/** Every stored handoff of the project, by session id. */
export async function readHandoffs(ctx: SessionContext): Promise<Map<string, Handoff>> {
  const entries = await ctx.storage.listEntries(resolveScope(ctx.identity, HANDOFFS_SCOPE));
  const out = new Map<string, Handoff>();
  for (const { key, entry } of entries) {
    const handoff = asHandoff(entry.value);
    if (handoff) out.set(key, handoff);
  }
  return out;
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
async function claimNamed(ctx: SessionContext, sessionId: string): Promise<HeldInstance> {
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
async function claimLowest(ctx: SessionContext): Promise<HeldInstance> {
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
 * Signs the binding on. Without `sessionId` it claims the lowest free
 * instance. Calling it again while holding an instance re-claims (renews) that
 * instance when `sessionId` is omitted or the same; naming another instance
 * claims that one first and then releases the old one, so a failed switch
 * keeps the old instance.
 */
export function signOn(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { sessionId?: string } = {},
): Promise<SignOnResult> {
  return inTurn(binding, () => signOnNow(ctx, binding, options));
}

async function signOnNow(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { sessionId?: string },
): Promise<SignOnResult> {
  const wanted = options.sessionId;
  if (wanted !== undefined) validateSessionId(wanted);
  if (wanted !== undefined && ctx.maxInstances !== undefined) {
    const n = AUTO_NAME.exec(wanted);
    if (n && Number(n[1]) > ctx.maxInstances) {
      throw invalidArgument(
        `${wanted} is beyond session.max_instances (${ctx.maxInstances}); pick claude_1 … claude_${ctx.maxInstances}.`,
      );
    }
  }
  let claim: SignOnResult["claim"] = "claimed";
  let held: HeldInstance;
  const previous = binding.held;
  if (previous && (wanted === undefined || wanted === previous.sessionId)) {
    held = await renewLease(ctx, binding);
    claim = "renewed";
  } else {
    held = wanted === undefined ? await claimLowest(ctx) : await claimNamed(ctx, wanted);
    // Release what the binding holds now: a heartbeat may have renewed the
    // old lease (a newer version) while the new claim was under way.
    const old = binding.held;
    binding.held = held;
    binding.lostReason = null;
    if (old) await releaseLease(ctx, old);
  }
  const [leases, handoff] = await Promise.all([
    readLeases(ctx),
    claim === "claimed" ? receiveHandoff(ctx, held.sessionId) : readHandoff(ctx, held.sessionId),
  ]);
  return {
    machine: ctx.identity.machine,
    project: ctx.identity.project,
    session_id: held.sessionId,
    full_scope_prefix: `${ctx.identity.machine}:${ctx.identity.project}:`,
    lease_expires_at: held.lease.lease_expires_at,
    claim,
    handoff,
    active_sessions: activeSessions(leases),
  };
}

async function readHandoff(ctx: SessionContext, sessionId: string): Promise<Handoff | null> {
  const scope = resolveScope(ctx.identity, HANDOFFS_SCOPE);
  return asHandoff((await ctx.storage.retrieve(scope, sessionId))?.value);
}

/**
 * Reads the instance's handoff and, the first time, stamps it with when and
 * by whom it was received: a later session of the same instance then sees
 * that an earlier one already started from it (and may have crashed since).
 */
async function receiveHandoff(ctx: SessionContext, sessionId: string): Promise<Handoff | null> {
  const scope = resolveScope(ctx.identity, HANDOFFS_SCOPE);
  const entry = await ctx.storage.retrieve(scope, sessionId);
  const handoff = asHandoff(entry?.value);
  if (!entry || !handoff || handoff.received_at) return handoff;
  const stamped: Handoff = { ...handoff, received_at: iso(ctx.now()), received_by_pid: ctx.pid };
  try {
    await ctx.storage.store(scope, sessionId, stamped as unknown as JsonObject, {
      ifVersion: entry.version,
      updatedBy: sessionId,
    });
  } catch (err) {
    // A concurrent sign_off wrote a newer handoff: that one is for the next session.
    if (!isCoordinatorError(err, "VERSION_CONFLICT")) throw err;
  }
  return handoff;
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

async function releaseLease(ctx: SessionContext, held: HeldInstance): Promise<void> {
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

/**
 * Signs off: stores a handoff for the next session of this instance (with the
 * branch and HEAD commit the server reads itself), then releases the lease.
 */
export function signOff(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { summary?: string; nextSteps?: string[] } = {},
): Promise<{ status: "signed_off"; session_id: string; handoff: Handoff }> {
  return inTurn(binding, () => signOffNow(ctx, binding, options));
}

async function signOffNow(
  ctx: SessionContext,
  binding: SessionBinding,
  options: { summary?: string; nextSteps?: string[] },
): Promise<{ status: "signed_off"; session_id: string; handoff: Handoff }> {
  // A session paused past its lease must not leave a handoff on an instance
  // someone else holds now.
  const held = await liveSession(ctx, binding);
  const tree = await ctx.workTree();
  const handoff: Handoff = {
    session_id: held.sessionId,
    machine: ctx.identity.machine,
    summary: options.summary ?? null,
    next_steps: options.nextSteps ?? [],
    signed_off_at: iso(ctx.now()),
    worktree: tree.path,
    branch: tree.branch,
    commit: tree.head,
  };
  await ctx.storage.store(
    resolveScope(ctx.identity, HANDOFFS_SCOPE),
    held.sessionId,
    handoff as unknown as JsonObject,
    { updatedBy: held.sessionId },
  );
  await release(ctx, binding);
  return { status: "signed_off", session_id: held.sessionId, handoff };
}

/**
 * Renews the binding's lease every third of its TTL until stopped. Errors are
 * reported, not thrown: a storage outage must not kill the server. The stop
 * function resolves once a renewal in flight has settled, so a release after
 * it cannot be overtaken by that renewal.
 */
export function startHeartbeat(
  ctx: SessionContext,
  binding: SessionBinding,
  onError: (err: unknown) => void,
): () => Promise<void> {
  let inFlight: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (!binding.held || inFlight) return;
    inFlight = renewLease(ctx, binding).then(
      () => {},
      (err) => {
        // Released meanwhile (sign_off): nothing failed.
        if (binding.held !== null || binding.lostReason !== null) onError(err);
      },
    ).finally(() => {
      inFlight = null;
    });
  }, Math.max(250, (ctx.leaseTtlSeconds * 1000) / 3));
  // The heartbeat alone must never keep the process alive.
  Deno.unrefTimer(timer);
  return () => {
    clearInterval(timer);
    return inFlight ?? Promise.resolve();
  };
}
