/**
 * What the dashboard reads, in sections, and which scopes each depends on:
 * a change to `@project:<p>:tasks` rereads the board and nothing else, so
 * a busy audit log or a heartbeat does not make every update read it all.
 * Every read is one the tools or the guard already make without a session.
 *
 * @module
 */
import { AUDIT_SCOPE, type AuditEvent } from "../core/audit.ts";
import { isPlainObject } from "../core/json.ts";
import { resolveScope } from "../core/scope_names.ts";
import { type Message, recentMessages } from "../core/board/messages.ts";
import { type LiveReservation, liveReservations } from "../core/board/reservations.ts";
import { MESSAGES_SCOPE, RESERVATIONS_SCOPE, TASKS_SCOPE } from "../core/board/scopes.ts";
import { readBoard } from "../core/board/tasks.ts";
import {
  type Handoff,
  HANDOFFS_SCOPE,
  INSTANCES_SCOPE,
  type LeaseRecord,
  readHandoffs,
  readLeases,
  type SessionContext,
} from "../core/session/mod.ts";

/** The board as readBoard returns it. */
export type Board = Awaited<ReturnType<typeof readBoard>>;

/** Everything the dashboard shows of one project, as read. */
export interface Sections {
  leases: Map<string, LeaseRecord>;
  board: Board;
  reservations: LiveReservation[];
  handoffs: Handoff[];
  messages: Message[];
  audit: AuditEvent[];
}

/** One section's name. */
export type SectionName = keyof Sections;

/** Every section, in the order they are read. */
export const SECTION_NAMES: readonly SectionName[] = [
  "leases",
  "board",
  "reservations",
  "handoffs",
  "messages",
  "audit",
];

/**
 * The scope (relative) each section reads. A task's status and a
 * reservation's liveness are also judged against the leases; they are not
 * listed under the instances scope, which every heartbeat rewrites, but
 * reread when the set of grants changes (see leaseSetKey and live.ts).
 */
const SECTION_SCOPES: { readonly [K in SectionName]: string } = {
  leases: INSTANCES_SCOPE,
  board: TASKS_SCOPE,
  reservations: RESERVATIONS_SCOPE,
  handoffs: HANDOFFS_SCOPE,
  messages: MESSAGES_SCOPE,
  audit: AUDIT_SCOPE,
};

/** The sections judged against the leases: reread when the set of grants changes. */
export const LEASE_DEPENDENT: readonly SectionName[] = ["board", "reservations"];

/**
 * What the lease-dependent sections depend on: which grants are live. A
 * renewal changes a lease's times but not this; a sign-on, a sign-off or an
 * expiry does.
 */
export function leaseSetKey(leases: ReadonlyMap<string, LeaseRecord>): string {
  return [...leases].map(([id, l]) => `${id}=${l.grant_id}`).sort().join(",");
}

/** How many of the latest messages and audit events a snapshot carries. */
export interface SectionLimits {
  messages: number;
  audit: number;
}

/** The default limits: enough to read what just happened, small enough to send on every change. */
export const DEFAULT_LIMITS: SectionLimits = { messages: 40, audit: 150 };

/**
 * The sections to reread after the given full scopes changed.
 *
 * @example
 * ```ts
 * sectionsChangedBy({ machine: "m", project: "acme/widget" }, ["@project:acme/widget:tasks"]);
 * // Set { "board" }
 * ```
 */
export function sectionsChangedBy(
  identity: SessionContext["identity"],
  scopes: readonly string[],
): Set<SectionName> {
  const changed = new Set(scopes);
  const out = new Set<SectionName>();
  for (const name of SECTION_NAMES) {
    if (changed.has(resolveScope(identity, SECTION_SCOPES[name]))) out.add(name);
  }
  return out;
}

/**
 * Reads the named sections of `ctx`'s project. `leases`, when given, are
 * used to judge reservations instead of reading them again.
 */
export async function readSections(
  ctx: SessionContext,
  names: ReadonlySet<SectionName>,
  limits: SectionLimits = DEFAULT_LIMITS,
  leases?: ReadonlyMap<string, LeaseRecord>,
): Promise<Partial<Sections>> {
  const out: Partial<Sections> = {};
  await Promise.all([
    names.has("leases") && readLeases(ctx).then((l) => out.leases = l),
    names.has("board") && readBoard(ctx).then((b) => out.board = b),
    names.has("reservations") &&
    liveReservations(ctx, leases).then((r) => out.reservations = r.map((x) => x.reservation)),
    names.has("handoffs") && readHandoffs(ctx).then((h) => out.handoffs = [...h.values()]),
    names.has("messages") && recentMessages(ctx, limits.messages).then((m) => out.messages = m),
    names.has("audit") && recentAudit(ctx, limits.audit).then((a) => out.audit = a),
  ]);
  return out;
}

/**
 * The latest `limit` audit events, oldest first. readAudit reads every
 * event (up to audit.max_events); this lists the keys, which sort by time,
 * and reads only the last ones, since it runs on every change.
 */
async function recentAudit(ctx: SessionContext, limit: number): Promise<AuditEvent[]> {
  const scope = resolveScope(ctx.identity, AUDIT_SCOPE);
  const keys = (await ctx.storage.listKeys(scope, { prefix: "e:" })).slice(-limit);
  const entries = await Promise.all(keys.map((k) => ctx.storage.retrieve(scope, k)));
  return entries.flatMap((e) => {
    const v = e?.value;
    return isPlainObject(v) && typeof v.kind === "string" && typeof v.at === "string"
      ? [v as unknown as AuditEvent]
      : [];
  });
}
