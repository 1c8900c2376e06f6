/**
 * The dashboard's view model: one JSON snapshot of a project, built from the
 * sections it read (sections.ts), shaped for reading at a glance: sessions
 * per machine with the task each works on, tasks with what makes them need
 * attention (stuck, retried, dropped), a laid-out dependency graph, and the
 * latest reservations, handoffs, messages and audit events.
 *
 * What a snapshot never carries: stored values of any data scope, message
 * bodies beyond their first line, the audit log's copied values, task
 * descriptions and notes. Free text that is shown (titles, subjects, first
 * lines, reasons) has credentials in URLs hidden (core/redact.ts), and the
 * free text people write to each other (subjects, first lines, handoff
 * summaries, reservation reasons) only when `details` is set.
 *
 * @module
 */
import type { AuditEvent } from "../core/audit.ts";
import { redactText } from "../core/redact.ts";
import { compareSessionIds } from "../core/session/mod.ts";
import { STATUS_ORDER, type TaskCounts, type TaskStatus } from "../core/board/tasks.ts";
import { type GraphLayout, layoutGraph } from "./graph.ts";
import type { Sections } from "./sections.ts";

/** A live session as the dashboard shows it. */
export interface SessionView {
  session_id: string;
  machine: string;
  worktree: string;
  branch: string | null;
  client: string | null;
  pid: number;
  since: string;
  last_seen: string;
  lease_expires_at: string;
  /** The tasks it holds in progress, longest held first. */
  tasks: { task_id: string; title: string }[];
  /** How many live reservations it holds. */
  reservations: number;
}

/** The sessions of one machine. */
export interface MachineView {
  machine: string;
  sessions: SessionView[];
}

/** A task card. */
export interface TaskCard {
  task_id: string;
  title: string;
  status: TaskStatus;
  /** The session working on it (in progress only). */
  owner: string | null;
  depends_on: string[];
  /** Dependencies not done yet (blocked tasks). */
  waiting_for: string[];
  /** How many tasks depend on this one. */
  dependants: number;
  labels: string[];
  priority: number;
  attempts: number;
  updated_at: string;
  /** When the current claim began (in progress only). */
  claimed_at: string | null;
  /** In progress for longer than `stuck_after_minutes`. */
  stuck: boolean;
  /** Claimed more than once: an earlier claim ended without finishing it. */
  retried: boolean;
  /** Open again because its holder's session ended while holding it: that session. */
  dropped_by: string | null;
}

/** A live file reservation. */
export interface ReservationView {
  path: string;
  exclusive: boolean;
  session_id: string;
  machine: string;
  reserved_at: string;
  /** When it ends unless renewed (a TTL's end or the holder's lease expiry); null: unknown. */
  until: string | null;
  /** Why, as its holder wrote it (only with details). */
  reason: string | null;
}

/** A handoff left by sign_off. */
export interface HandoffView {
  session_id: string;
  machine: string;
  signed_off_at: string;
  branch: string | null;
  commit: string | null;
  received_at: string | null;
  next_steps: number;
  /** The summary's first line (only with details). */
  summary: string | null;
}

/** A message between sessions. */
export interface MessageView {
  message_id: string;
  from: string;
  to: string;
  sent_at: string;
  thread: string | null;
  /** Only with details. */
  subject: string | null;
  /** The body's first line (only with details). */
  preview: string | null;
}

/** An audit event, without any copied value. */
export interface AuditView {
  at: string;
  kind: string;
  outcome: string;
  session_id: string | null;
  machine: string;
  task_id?: string;
  to?: string;
  paths?: string[];
  scope?: string;
  key?: string;
  status?: string;
  detail?: string;
}

/** Everything the page shows of one project. */
export interface Snapshot {
  project: string;
  adapter: string;
  lease_ttl_seconds: number;
  stuck_after_minutes: number;
  /** Whether subjects, first lines, summaries and reasons are included. */
  details: boolean;
  sessions: number;
  machines: MachineView[];
  counts: TaskCounts;
  tasks: TaskCard[];
  graph: GraphLayout;
  reservations: ReservationView[];
  handoffs: HandoffView[];
  messages: MessageView[];
  audit: AuditView[];
}

/** Options of buildSnapshot. */
export interface SnapshotOptions {
  project: string;
  adapter: string;
  leaseTtlSeconds: number;
  /** The storage clock (epoch ms) that leases and claims are judged by. */
  now: number;
  /** Include the free text people write to each other (see the module comment). */
  details: boolean;
  /** In progress longer than this is stuck; 30 by default. */
  stuckAfterMinutes?: number;
}

const TITLE_MAX = 200;
const LINE_MAX = 160;

/**
 * The first line of a free text, at most `max` characters, credentials hidden.
 *
 * @example
 * ```ts
 * firstLine("deploy to https://u:pw@host/x\nmore", 80); // "deploy to https://u:***@host/x"
 * ```
 */
export function firstLine(text: string | null | undefined, max = LINE_MAX): string | null {
  if (typeof text !== "string") return null;
  const line = text.trimStart().split(/\r?\n/, 1)[0].trim();
  if (line === "") return null;
  const shown = redactText(line);
  return shown.length > max ? `${shown.slice(0, max - 1)}…` : shown;
}

/** Builds the snapshot from every section. Pure: the same sections give the same snapshot. */
export function buildSnapshot(sections: Sections, options: SnapshotOptions): Snapshot {
  const stuckAfterMinutes = options.stuckAfterMinutes ?? 30;
  const tasks = taskCards(sections, options.now, stuckAfterMinutes);
  const reservations = sections.reservations.map((r): ReservationView => ({
    path: r.path,
    exclusive: r.exclusive,
    session_id: r.session_id,
    machine: r.machine,
    reserved_at: r.reserved_at,
    until: r.until,
    reason: options.details ? firstLine(r.reason) : null,
  })).sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return {
    project: options.project,
    adapter: options.adapter,
    lease_ttl_seconds: options.leaseTtlSeconds,
    stuck_after_minutes: stuckAfterMinutes,
    details: options.details,
    sessions: sections.leases.size,
    machines: machines(sections, tasks, reservations),
    counts: sections.board.counts,
    tasks,
    graph: layoutGraph(tasks),
    reservations,
    handoffs: handoffs(sections, options.details),
    messages: sections.messages.map((m): MessageView => ({
      message_id: m.message_id,
      from: m.from,
      to: m.to,
      sent_at: m.sent_at,
      thread: m.thread,
      subject: options.details ? firstLine(m.subject) : null,
      preview: options.details ? firstLine(m.body) : null,
    })),
    audit: sections.audit.map(auditView).reverse(),
  };
}

function taskCards(sections: Sections, now: number, stuckAfterMinutes: number): TaskCard[] {
  const dependants = new Map<string, number>();
  for (const { rec } of sections.board.tasks) {
    for (const d of rec.depends_on) dependants.set(d, (dependants.get(d) ?? 0) + 1);
  }
  const cards = sections.board.tasks.map(({ rec, status, waiting_for }) => {
    const inProgress = status === "in_progress";
    const claimedAt = inProgress ? rec.owner?.since ?? null : null;
    const open = status === "ready" || status === "blocked";
    return {
      card: {
        task_id: rec.task_id,
        title: firstLine(rec.title, TITLE_MAX) ?? rec.task_id,
        status,
        owner: inProgress ? rec.owner?.session_id ?? null : null,
        depends_on: rec.depends_on,
        waiting_for,
        dependants: dependants.get(rec.task_id) ?? 0,
        labels: rec.labels ?? [],
        priority: rec.priority ?? 0,
        attempts: rec.attempts ?? 0,
        updated_at: rec.updated_at,
        claimed_at: claimedAt,
        stuck: claimedAt !== null && now - Date.parse(claimedAt) > stuckAfterMinutes * 60_000,
        retried: (rec.attempts ?? 0) > 1,
        dropped_by: open && rec.owner ? rec.owner.session_id : null,
      } satisfies TaskCard,
      order: rec.order,
    };
  });
  const byStatus = (a: (typeof cards)[number], b: (typeof cards)[number]): number => {
    const s = STATUS_ORDER[a.card.status] - STATUS_ORDER[b.card.status];
    if (s !== 0) return s;
    switch (a.card.status) {
      case "in_progress":
        return cmp(a.card.claimed_at ?? "", b.card.claimed_at ?? "");
      case "done":
      case "failed":
        return cmp(b.card.updated_at, a.card.updated_at);
      default:
        return cmp(a.order, b.order);
    }
  };
  return cards.sort(byStatus).map((c) => c.card);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function machines(
  sections: Sections,
  tasks: TaskCard[],
  reservations: ReservationView[],
): MachineView[] {
  const held = new Map<string, { task_id: string; title: string }[]>();
  for (const t of tasks) {
    if (t.owner === null) continue;
    const list = held.get(t.owner) ?? [];
    list.push({ task_id: t.task_id, title: t.title });
    held.set(t.owner, list);
  }
  const reserved = new Map<string, number>();
  for (const r of reservations) reserved.set(r.session_id, (reserved.get(r.session_id) ?? 0) + 1);
  const byMachine = new Map<string, SessionView[]>();
  for (const lease of [...sections.leases.values()].sort(compareSessionIds)) {
    const list = byMachine.get(lease.machine) ?? [];
    list.push({
      session_id: lease.session_id,
      machine: lease.machine,
      worktree: lease.worktree,
      branch: lease.branch,
      client: lease.client ?? null,
      pid: lease.pid,
      since: lease.since,
      last_seen: lease.last_seen,
      lease_expires_at: lease.lease_expires_at,
      tasks: held.get(lease.session_id) ?? [],
      reservations: reserved.get(lease.session_id) ?? 0,
    });
    byMachine.set(lease.machine, list);
  }
  return [...byMachine].sort(([a], [b]) => cmp(a, b))
    .map(([machine, sessions]) => ({ machine, sessions }));
}

function handoffs(sections: Sections, details: boolean): HandoffView[] {
  return sections.handoffs.map((h): HandoffView => ({
    session_id: h.session_id,
    machine: h.machine,
    signed_off_at: h.signed_off_at,
    branch: h.branch,
    commit: typeof h.commit === "string" ? h.commit.slice(0, 8) : null,
    received_at: h.received_at ?? null,
    next_steps: Array.isArray(h.next_steps) ? h.next_steps.length : 0,
    summary: details ? firstLine(h.summary) : null,
  })).sort((a, b) => cmp(b.signed_off_at, a.signed_off_at));
}

function auditView(e: AuditEvent): AuditView {
  const out: AuditView = {
    at: e.at,
    kind: e.kind,
    outcome: typeof e.outcome === "string" ? e.outcome : "ok",
    session_id: e.session_id ?? null,
    machine: e.machine,
  };
  if (typeof e.task_id === "string") out.task_id = e.task_id;
  if (typeof e.to === "string") out.to = e.to;
  if (Array.isArray(e.paths)) out.paths = e.paths.slice(0, 10).map((p) => redactText(String(p)));
  if (typeof e.scope === "string") out.scope = redactText(e.scope);
  if (typeof e.key === "string") out.key = redactText(e.key);
  if (typeof e.status === "string") out.status = e.status;
  const detail = firstLine(e.detail);
  if (detail !== null) out.detail = detail;
  return out;
}
