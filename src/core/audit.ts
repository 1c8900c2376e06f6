/**
 * The audit log: what changed, by whom, when. Every state change a session
 * makes through a tool (and what a person does with the admin commands) is
 * appended as one event to the project-wide scope `@project:audit`, through
 * the storage contract, so it works on every adapter and every machine of
 * the project sees the same log.
 *
 * Rules that keep it safe to leave on:
 * - Appending never blocks or fails the call it records: events are
 *   written in the background, batched; a failed write is reported on
 *   stderr and counted.
 * - Values and message bodies are not copied (a secret stored as a value
 *   stays out of the log), unless `audit.include_values` is set.
 * - Retention: an event expires `audit.retention_days` after it happened
 *   (storage TTL), and the log keeps at most `audit.max_events`: every
 *   hundredth append drops the oldest beyond that.
 *
 * @module
 */
import type { JsonObject, JsonValue } from "./json.ts";
import { resolveScope } from "./scope_names.ts";
import type { ProjectIdentity } from "./scope_names.ts";
import type { StorageAdapter } from "../storage/contract.ts";
import { randomHex } from "./random.ts";

/** The scope of the audit log. */
export const AUDIT_SCOPE = "@project:audit";

/** One audit event. */
export interface AuditEvent {
  /** When it happened (ISO-8601). */
  at: string;
  /** What happened: a tool name, "lease_lost", or an admin command such as "admin:release". */
  kind: string;
  /** "ok", or the error code the call ended with. */
  outcome: string;
  /** The instance acting, when there is one. */
  session_id: string | null;
  machine: string;
  pid: number;
  /** The MCP client ("claude-code 2.1.80"), or the admin command line. */
  client: string | null;
  scope?: string;
  key?: string;
  task_id?: string;
  to?: string;
  paths?: string[];
  status?: string;
  /** A short free text: why (an admin's reason, what was lost). */
  detail?: string;
  /** The value or body, only with audit.include_values. */
  value?: JsonValue;
}

/** The audit settings (the config's `audit` section). */
export interface AuditSettings {
  enabled: boolean;
  retention_days: number;
  max_events: number;
  include_values: boolean;
}

/** The default audit settings. */
export const DEFAULT_AUDIT: AuditSettings = {
  enabled: true,
  retention_days: 14,
  max_events: 10_000,
  include_values: false,
};

/** Where audit events go; one per server process. */
export interface AuditSink {
  /** Appends an event in the background; never throws. */
  record(event: Omit<AuditEvent, "at" | "machine"> & { at?: string }): void;
  /** Resolves when every append started so far has settled (tests, shutdown). */
  flush(): Promise<void>;
  /** Appends that failed since the process started. */
  readonly failures: number;
  /** Whether values and bodies are copied into events. */
  readonly includeValues: boolean;
}

/** A sink that records nothing (audit.enabled false, or no audit wanted). */
export const NO_AUDIT: AuditSink = {
  record() {},
  flush: () => Promise.resolve(),
  failures: 0,
  includeValues: false,
};

/** An event key: sorts by time, then by the order one process recorded its events. */
function eventKey(nowMs: number, seq: number, writer: string): string {
  // The process's own count after the time keeps its events of one
  // millisecond in order; the writer's random id keeps two processes apart.
  return `e:${String(Math.floor(nowMs)).padStart(15, "0")}:${
    String(seq).padStart(12, "0")
  }:${writer}`;
}

/** How long events gather before they are written together (one batch, one flush). */
const AUDIT_BATCH_MS = 100;
/** Most events in one batch. */
const AUDIT_BATCH_MAX = 200;

/**
 * Creates the audit sink of a server process. Events gather for up to
 * AUDIT_BATCH_MS and are written as one batch, so recording costs the call
 * it records nothing but a push onto a list: a durable write per tool call
 * would double every call's cost. A process killed meanwhile loses the
 * events of its last AUDIT_BATCH_MS.
 */
export function createAuditSink(
  storage: StorageAdapter,
  identity: ProjectIdentity,
  settings: AuditSettings,
  log: (line: string) => void,
): AuditSink {
  if (!settings.enabled) return NO_AUDIT;
  const scope = resolveScope(identity, AUDIT_SCOPE);
  const queue: { key: string; event: AuditEvent }[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  let writing: Promise<void> = Promise.resolve();
  let failures = 0;
  let appends = 0;
  let recorded = 0;
  const writer = randomHex(4);

  async function prune(): Promise<void> {
    const keys = await storage.listKeys(scope, { prefix: "e:" });
    const excess = keys.slice(0, Math.max(0, keys.length - settings.max_events)).slice(0, 500);
    if (excess.length > 0) {
      await storage.writeBatch(scope, excess.map((key) => ({ op: "delete" as const, key })));
    }
  }

  function write(): void {
    timer = null;
    const batch = queue.splice(0, AUDIT_BATCH_MAX);
    if (queue.length > 0) timer = setTimeout(write, 0);
    writing = writing.then(async () => {
      try {
        await storage.writeBatch(
          scope,
          batch.map(({ key, event }) => ({
            op: "set" as const,
            key,
            value: event as unknown as JsonObject,
            ttlSeconds: settings.retention_days * 86_400,
          })),
        );
        const before = appends;
        appends += batch.length;
        if (Math.floor(before / 100) !== Math.floor(appends / 100)) await prune();
      } catch (err) {
        failures += batch.length;
        log(
          `audit: could not record ${batch.map((b) => b.event.kind).join(", ")} (${
            (err as Error).message
          }); ${failures} lost so far`,
        );
      }
    });
  }

  return {
    record(event) {
      const now = storage.now();
      const full = {
        ...event,
        at: event.at ?? new Date(now).toISOString(),
        machine: identity.machine,
      };
      queue.push({ key: eventKey(now, ++recorded, writer), event: full });
      timer ??= setTimeout(write, AUDIT_BATCH_MS);
    },
    async flush() {
      while (queue.length > 0 || timer !== null) {
        if (timer !== null) clearTimeout(timer);
        write();
        await writing;
      }
      await writing;
    },
    get failures() {
      return failures;
    },
    includeValues: settings.include_values,
  };
}

/** Filters of readAudit. */
export interface AuditFilter {
  sessionId?: string;
  /** A kind, or a prefix ending in "*" ("admin:*"). */
  kind?: string;
  /** Only events at or after this time (epoch ms). */
  sinceMs?: number;
  /** At most this many, the newest. */
  limit?: number;
}

/** Reads the audit log, oldest first (the admin command and the dashboard; no session needed). */
export async function readAudit(
  storage: StorageAdapter,
  identity: ProjectIdentity,
  filter: AuditFilter = {},
): Promise<{ key: string; event: AuditEvent }[]> {
  const scope = resolveScope(identity, AUDIT_SCOPE);
  const entries = await storage.listEntries(scope, { prefix: "e:" });
  const kindMatches = (kind: string) =>
    filter.kind === undefined ||
    (filter.kind.endsWith("*") ? kind.startsWith(filter.kind.slice(0, -1)) : kind === filter.kind);
  const out = entries
    .map(({ key, entry }) => ({ key, event: entry.value as unknown as AuditEvent }))
    .filter(({ event }) =>
      typeof event === "object" && event !== null && typeof event.kind === "string" &&
      (filter.sessionId === undefined || event.session_id === filter.sessionId) &&
      kindMatches(event.kind) &&
      (filter.sinceMs === undefined || Date.parse(event.at) >= filter.sinceMs)
    );
  return filter.limit === undefined ? out : out.slice(-filter.limit);
}
