/**
 * The audit log: what changed, by whom, when. Every state change a session
 * makes through a tool (and what a person does with the admin commands) is
 * appended as one event to the project-wide scope `@project:audit`, through
 * the storage contract, so it works on every adapter and every machine of
 * the project sees the same log.
 *
 * Rules that keep it safe to leave on:
 * - Appending never blocks or fails the call it records: the write runs in
 *   the background; a failed one is reported on stderr and counted.
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

/** An event key: sorts by time; the random tail keeps two events of one millisecond apart. */
function eventKey(nowMs: number): string {
  const rand = [...crypto.getRandomValues(new Uint8Array(4))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  return `e:${String(Math.floor(nowMs)).padStart(15, "0")}:${rand}`;
}

/** Creates the audit sink of a server process. */
export function createAuditSink(
  storage: StorageAdapter,
  identity: ProjectIdentity,
  settings: AuditSettings,
  log: (line: string) => void,
): AuditSink {
  if (!settings.enabled) return NO_AUDIT;
  const scope = resolveScope(identity, AUDIT_SCOPE);
  const pending = new Set<Promise<void>>();
  let failures = 0;
  let appends = 0;

  async function prune(): Promise<void> {
    const keys = await storage.listKeys(scope, { prefix: "e:" });
    const excess = keys.slice(0, Math.max(0, keys.length - settings.max_events)).slice(0, 500);
    if (excess.length > 0) {
      await storage.writeBatch(scope, excess.map((key) => ({ op: "delete" as const, key })));
    }
  }

  return {
    record(event) {
      const now = storage.now();
      const full = {
        ...event,
        at: event.at ?? new Date(now).toISOString(),
        machine: identity.machine,
      };
      const write = (async () => {
        await storage.store(scope, eventKey(now), full as unknown as JsonObject, {
          ttlSeconds: settings.retention_days * 86_400,
          updatedBy: event.session_id,
        });
        if (++appends % 100 === 0) await prune();
      })().catch((err) => {
        failures++;
        log(
          `audit: could not record ${event.kind} (${
            (err as Error).message
          }); ${failures} lost so far`,
        );
      });
      pending.add(write);
      write.finally(() => pending.delete(write));
    },
    async flush() {
      while (pending.size > 0) await Promise.all([...pending]);
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
