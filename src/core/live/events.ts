/**
 * What changed for one session, as events: a message to it (or to all), a
 * task that appeared or changed status, a key written in a scope it follows.
 * The tracker listens to the change hub, and when a scope it cares about
 * changes it reads that part of the board again and compares it with what
 * it saw last, so an event is reported once, whichever process or machine
 * caused it. Events wait in a bounded buffer until a `wait` takes them, so a
 * change between two waits of the same session is not lost; push consumers
 * (Claude Code channels) are told of each event as it is found.
 *
 * @module
 */
import { resolveScope } from "../scope_names.ts";
import { readLeases, type SessionBinding, type SessionContext } from "../session/mod.ts";
import { INSTANCES_SCOPE } from "../session/types.ts";
import { readBoard, type TaskStatus } from "../board/tasks.ts";
import { inboxOf } from "../board/messages.ts";
import { MESSAGES_SCOPE, TASKS_SCOPE } from "../board/scopes.ts";
import type { Change } from "../../storage/contract.ts";
import type { ChangeHub } from "./hub.ts";

/** One thing that changed for a session. */
export type LiveEvent =
  | {
    kind: "message";
    message_id: string;
    from: string;
    to: string;
    subject: string | null;
    sent_at: string;
  }
  | {
    kind: "task";
    task_id: string;
    title: string;
    status: TaskStatus;
    /** The status before; null for a task that is new. */
    previous: TaskStatus | null;
    created_by: string;
    /** Who holds it (in progress), or null. */
    owner: string | null;
  }
  | { kind: "scope"; scope: string; key: string; deleted: boolean };

/** What a wait is for: messages, tasks, and relative scope names. */
export interface WaitSpec {
  messages: boolean;
  tasks: boolean;
  scopes: string[];
}

/** A session's event tracker. */
export interface EventTracker {
  /**
   * Starts following messages and tasks (and these relative scopes) from
   * now; what is already there is the baseline (unread messages count as
   * news). Following only ever widens.
   */
  follow(scopes: string[]): Promise<void>;
  /** Takes the buffered events a wait for `spec` wants; the others stay. */
  take(spec: WaitSpec): LiveEvent[];
  /** Resolves at the next new event. */
  next(): Promise<void>;
  /** Tells `listener` of every new event until the returned function is called. */
  onEvent(listener: (event: LiveEvent) => void): () => void;
  /** How many tasks this session holds, as of the last read of the board (0 before any). */
  heldTasks(): number;
  /** True once closed: waits end at once. */
  readonly closed: boolean;
  /** Stops listening, and ends every wait. */
  close(): void;
}

/** Most events buffered for a session; the oldest go first. */
const MAX_BUFFERED = 500;
/** Changes that arrive within this many ms are read once. */
const COALESCE_MS = 25;
/** How long after a lease's expiry the board is read again (clocks and renewals in flight). */
const LAPSE_MARGIN_MS = 250;

/** Creates the event tracker of one session. */
export function createEventTracker(
  ctx: SessionContext,
  binding: SessionBinding,
  hub: ChangeHub,
  log: (line: string) => void,
): EventTracker {
  const full = (relative: string) => resolveScope(ctx.identity, relative);
  const messagesScope = full(MESSAGES_SCOPE);
  const tasksScope = full(TASKS_SCOPE);
  const instancesScope = full(INSTANCES_SCOPE);
  const scopes = new Map<string, { relative: string; versions: Map<string, number> }>();
  let following = false;
  let reader: string | null = null;
  const seenMessages = new Set<string>();
  let statuses: Map<string, TaskStatus> | null = null;
  const buffer: LiveEvent[] = [];
  const listeners = new Set<(event: LiveEvent) => void>();
  let waiters: (() => void)[] = [];
  let unsubscribe: (() => void) | null = null;
  let dirty = { messages: false, tasks: false, scopes: new Set<string>() };
  let timer: ReturnType<typeof setTimeout> | null = null;
  let refreshing: Promise<void> = Promise.resolve();
  let held = 0;
  let closed = false;
  let lapseTimer: ReturnType<typeof setTimeout> | null = null;

  function emit(event: LiveEvent): void {
    buffer.push(event);
    if (buffer.length > MAX_BUFFERED) buffer.shift();
    for (const l of [...listeners]) {
      try {
        l(event);
      } catch (err) {
        log(`live: a listener failed: ${(err as Error).message}`);
      }
    }
    const ready = waiters;
    waiters = [];
    for (const w of ready) w();
  }

  async function readMessages(): Promise<void> {
    const me = binding.held?.sessionId ?? null;
    if (me !== reader) {
      // Another instance (or none): its inbox starts afresh.
      reader = me;
      seenMessages.clear();
    }
    if (me === null) return;
    for (const { message, read } of await inboxOf(ctx, me)) {
      if (seenMessages.has(message.message_id)) continue;
      seenMessages.add(message.message_id);
      if (read) continue;
      emit({
        kind: "message",
        message_id: message.message_id,
        from: message.from,
        to: message.to,
        subject: message.subject,
        sent_at: message.sent_at,
      });
    }
  }

  async function readTasks(baseline: boolean): Promise<void> {
    const [{ tasks }, leases] = await Promise.all([readBoard(ctx), readLeases(ctx)]);
    const grant = binding.held?.grantId;
    // Counted before any event goes out: a listener asks heldTasks() at once.
    held = tasks.filter((t) => t.status === "in_progress" && t.rec.owner?.grant_id === grant)
      .length;
    const next = new Map<string, TaskStatus>();
    let lapse = Infinity;
    for (const { rec, status } of tasks) {
      next.set(rec.task_id, status);
      if (status === "in_progress" && rec.owner) {
        const until = Date.parse(leases.get(rec.owner.session_id)?.lease_expires_at ?? "");
        if (until < lapse) lapse = until;
      }
      const before = statuses?.get(rec.task_id) ?? null;
      if (!baseline && before !== status) {
        emit({
          kind: "task",
          task_id: rec.task_id,
          title: rec.title,
          status,
          previous: before,
          created_by: rec.created_by,
          owner: status === "in_progress" ? rec.owner?.session_id ?? null : null,
        });
      }
    }
    statuses = next;
    watchLapse(lapse);
  }

  /**
   * A lease that runs out writes nothing, so no change reports it: the tasks
   * its session held turn ready silently. So the board is read again when
   * the first lease behind an in-progress task would lapse (unless renewed).
   */
  function watchLapse(at: number): void {
    if (lapseTimer !== null) clearTimeout(lapseTimer);
    lapseTimer = null;
    if (!Number.isFinite(at) || closed) return;
    const wait = Math.max(0, at - ctx.storage.now()) + LAPSE_MARGIN_MS;
    lapseTimer = setTimeout(() => {
      lapseTimer = null;
      onChange({ scopes: [tasksScope] });
    }, wait);
    Deno.unrefTimer(lapseTimer);
  }

  async function readScope(fullScope: string, baseline: boolean): Promise<void> {
    const tracked = scopes.get(fullScope);
    if (!tracked) return;
    const now = new Map<string, number>();
    for (const { key, entry } of await ctx.storage.listEntries(fullScope)) {
      now.set(key, entry.version);
      if (!baseline && tracked.versions.get(key) !== entry.version) {
        emit({ kind: "scope", scope: tracked.relative, key, deleted: false });
      }
    }
    if (!baseline) {
      for (const key of tracked.versions.keys()) {
        if (!now.has(key)) emit({ kind: "scope", scope: tracked.relative, key, deleted: true });
      }
    }
    tracked.versions = now;
  }

  function onChange(change: Change): void {
    if ("all" in change) {
      dirty.messages = true;
      dirty.tasks = true;
      for (const s of scopes.keys()) dirty.scopes.add(s);
    } else {
      for (const s of change.scopes) {
        if (s === messagesScope) dirty.messages = true;
        // A lease that lapsed or was released changes task statuses too.
        if (s === tasksScope || s === instancesScope) dirty.tasks = true;
        if (scopes.has(s)) dirty.scopes.add(s);
      }
    }
    if (timer === null && (dirty.messages || dirty.tasks || dirty.scopes.size > 0)) {
      timer = setTimeout(refresh, COALESCE_MS);
    }
  }

  function refresh(): void {
    timer = null;
    const work = dirty;
    dirty = { messages: false, tasks: false, scopes: new Set() };
    refreshing = refreshing.then(async () => {
      try {
        if (work.messages) await readMessages();
        if (work.tasks) await readTasks(false);
        for (const s of work.scopes) await readScope(s, false);
      } catch (err) {
        // The next change reads again; a storage outage must not end the tracker.
        log(`live: could not read what changed: ${(err as Error).message}`);
        dirty.messages ||= work.messages;
        dirty.tasks ||= work.tasks;
        for (const s of work.scopes) dirty.scopes.add(s);
      }
    });
  }

  return {
    async follow(wanted) {
      const added: string[] = [];
      for (const relative of wanted) {
        const s = full(relative);
        if (!scopes.has(s)) {
          scopes.set(s, { relative, versions: new Map() });
          added.push(s);
        }
      }
      if (!following) {
        following = true;
        unsubscribe = hub.subscribe(onChange);
        await readTasks(true);
        // Unread messages already there are news: a wait returns them at once.
        await readMessages();
      } else if (binding.held?.sessionId !== reader) {
        await readMessages();
      }
      for (const s of added) await readScope(s, true);
      await refreshing;
    },
    take(spec) {
      const wanted = new Set(spec.scopes);
      const taken: LiveEvent[] = [];
      for (let i = 0; i < buffer.length;) {
        const e = buffer[i];
        const match = e.kind === "message"
          ? spec.messages
          : e.kind === "task"
          ? spec.tasks
          : wanted.has(e.scope);
        if (match) {
          taken.push(e);
          buffer.splice(i, 1);
        } else i++;
      }
      return taken;
    },
    next() {
      return new Promise((resolve) => waiters.push(resolve));
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    heldTasks: () => held,
    get closed() {
      return closed;
    },
    close() {
      closed = true;
      if (lapseTimer !== null) clearTimeout(lapseTimer);
      lapseTimer = null;
      unsubscribe?.();
      unsubscribe = null;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      const ready = waiters;
      waiters = [];
      for (const w of ready) w();
    },
  };
}
