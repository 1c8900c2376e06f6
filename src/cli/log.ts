/**
 * `log`: the audit log (src/core/audit.ts), oldest first, filtered by
 * session, kind and time. `--follow` keeps printing events as they are
 * appended, from any process or machine, driven by the storage's change
 * feed (no polling): it reads the log again only when the feed says the
 * audit scope changed. It ends on SIGINT or SIGTERM, or when stdout is
 * closed (noticed at the next event it prints).
 */
import { AUDIT_SCOPE, type AuditEvent, type AuditFilter, readAudit } from "../core/audit.ts";
import { resolveScope } from "../core/scope_names.ts";
import { isSessionId } from "../core/session/mod.ts";
import type { StorageAdapter } from "../storage/contract.ts";
import { type AdminContext, openAdmin } from "./_admin.ts";
import { noArguments, parseCount, parseSince } from "./_flags.ts";
import { type CliInput, EXIT, log, printJson, UsageError } from "./_shared.ts";
import { cell, type Column, table } from "./_table.ts";

/** Events shown without --limit or --since: the newest this many. */
const DEFAULT_LIMIT = 100;
/** Events shown before following without --limit or --since, like `tail -f`. */
const FOLLOW_BACKLOG = 10;
/** How many new events are read at once while following. */
const READ_CHUNK = 64;

/** Runs log. */
export async function logCommand(input: CliInput): Promise<number> {
  noArguments("log", input.args);
  const { flags } = input;
  if (flags.session !== undefined && !isSessionId(flags.session)) {
    throw new UsageError(
      `--session ${JSON.stringify(flags.session)} is not an instance id like claude_2`,
    );
  }
  if (flags.kind !== undefined && flags.kind.trim() === "") {
    throw new UsageError("--kind needs a kind such as store_data, or a prefix such as admin:*");
  }
  // Checked before the storage is opened, so a typo costs no connection; the
  // time itself is taken below by the storage's clock (Redis's, when they differ).
  if (flags.since !== undefined) parseSince(flags.since, Date.now());
  const limit = parseCount("limit", flags.limit);
  const admin = await openAdmin(input);
  try {
    const filter: AuditFilter = {
      sessionId: flags.session,
      kind: flags.kind,
      sinceMs: flags.since === undefined
        ? undefined
        : parseSince(flags.since, admin.ctx.storage.now()),
    };
    const shown = limit ??
      (flags.since !== undefined ? undefined : flags.follow ? FOLLOW_BACKLOG : DEFAULT_LIMIT);
    if (flags.follow) return await follow(admin, filter, shown, flags.json ?? false);
    const events = await readAudit(admin.ctx.storage, admin.ctx.identity, filter);
    const picked = shown === undefined ? events : events.slice(-shown);
    if (flags.json) {
      printJson({
        project: admin.setup.project,
        matching: events.length,
        events: picked.map(({ key, event }) => ({ id: key, ...event })),
      });
      return EXIT.ok;
    }
    if (picked.length === 0) {
      console.log("No audit events match.");
    } else {
      console.log(table(COLUMNS, picked.map(({ event }) => row(event))));
    }
    if (picked.length < events.length) {
      log(
        `showing the newest ${picked.length} of ${events.length} events; --limit N or --since TIME for more`,
      );
    }
    return EXIT.ok;
  } finally {
    await admin.close();
  }
}

const COLUMNS: Column[] = [
  { header: "AT" },
  { header: "SESSION" },
  { header: "KIND" },
  { header: "OUTCOME" },
  { header: "MACHINE" },
  { header: "PID", align: "right" },
  { header: "CLIENT", max: 24 },
  { header: "WHAT" },
];

/** Fixed widths while following (later rows cannot widen earlier ones). */
const FOLLOW_WIDTHS = [24, 10, 16, 12, 12, 7, 18];

/** An event's cells, in COLUMNS order. */
function row(e: AuditEvent): unknown[] {
  const what = [
    e.scope !== undefined ? `scope=${e.scope}` : null,
    e.key !== undefined ? `key=${e.key}` : null,
    e.task_id !== undefined ? `task=${e.task_id}` : null,
    e.to !== undefined ? `to=${e.to}` : null,
    e.paths !== undefined ? `paths=${e.paths.join(",")}` : null,
    e.status !== undefined ? `status=${e.status}` : null,
    e.detail !== undefined ? e.detail : null,
  ].filter((p) => p !== null).join(" ");
  return [e.at, e.session_id, e.kind, e.outcome, e.machine, e.pid, e.client, what || null];
}

/** Cells as a line of fixed-width columns. */
function fixedLine(cells: unknown[]): string {
  return cells.map((value, i) => {
    const text = cell(value, COLUMNS[i].max);
    const width = FOLLOW_WIDTHS[i];
    if (width === undefined) return text;
    return COLUMNS[i].align === "right" ? text.padStart(width) : text.padEnd(width);
  }).join("  ").trimEnd();
}

/** True when an event passes the filter (the same rules as readAudit). */
export function matchesFilter(event: AuditEvent, filter: AuditFilter): boolean {
  if (typeof event !== "object" || event === null || typeof event.kind !== "string") return false;
  const kind = filter.kind;
  const kindOk = kind === undefined ||
    (kind.endsWith("*") ? event.kind.startsWith(kind.slice(0, -1)) : event.kind === kind);
  return kindOk &&
    (filter.sessionId === undefined || event.session_id === filter.sessionId) &&
    (filter.sinceMs === undefined || Date.parse(event.at) >= filter.sinceMs);
}

/**
 * Prints the newest `backlog` matching events, then every new one until a
 * signal or a closed stdout. The feed is watched before the log is first
 * listed, so an event appended in between is printed, not lost.
 */
async function follow(
  admin: AdminContext,
  filter: AuditFilter,
  backlog: number | undefined,
  json: boolean,
): Promise<number> {
  const { storage, identity } = admin.ctx;
  const scope = resolveScope(identity, AUDIT_SCOPE);
  const { promise: stopped, resolve: stop } = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  const out = new Output(stop);
  const print = (key: string, event: AuditEvent) =>
    out.write((json ? JSON.stringify({ id: key, ...event }) : fixedLine(row(event))) + "\n");

  let seen = new Set<string>();
  let dirty = false;
  let reading: Promise<void> | null = null;
  /** Reads and prints what is new; runs again if the feed spoke meanwhile. */
  const wake = () => {
    dirty = true;
    reading ??= (async () => {
      while (dirty && !out.closed) {
        dirty = false;
        try {
          seen = await printNew(storage, scope, seen, filter, print);
        } catch (err) {
          // An outage: the feed reports { all: true } once it is back, and we read again.
          log(
            `log: cannot read the audit log (${(err as Error).message}); waiting for the storage.`,
          );
        }
      }
      reading = null;
    })();
  };
  let started = false;
  const unwatch = storage.watch((change) => {
    if (!("all" in change) && !change.scopes.includes(scope)) return;
    if (started) wake();
    else dirty = true;
  });
  try {
    seen = new Set(await storage.listKeys(scope, { prefix: "e:" }));
    const existing = (await readAudit(storage, identity, filter)).filter(({ key }) =>
      seen.has(key)
    );
    const first = backlog === undefined ? existing : existing.slice(-backlog);
    if (!json) await out.write(fixedLine(COLUMNS.map((c) => c.header)) + "\n");
    for (const { key, event } of first) await print(key, event);
    started = true;
    if (dirty) wake();
    log(`following the audit log of ${identity.project}; Ctrl-C to stop`);
    await stopped;
    await reading;
    return EXIT.ok;
  } finally {
    unwatch();
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  }
}

/** Prints the events whose keys are not in `seen`, oldest first; returns the keys now listed. */
async function printNew(
  storage: StorageAdapter,
  scope: string,
  seen: Set<string>,
  filter: AuditFilter,
  print: (key: string, event: AuditEvent) => Promise<void>,
): Promise<Set<string>> {
  const keys = await storage.listKeys(scope, { prefix: "e:" });
  const fresh = keys.filter((k) => !seen.has(k));
  for (let i = 0; i < fresh.length; i += READ_CHUNK) {
    const chunk = fresh.slice(i, i + READ_CHUNK);
    const entries = await Promise.all(chunk.map((k) => storage.retrieve(scope, k)));
    for (const [j, entry] of entries.entries()) {
      const event = entry?.value as unknown as AuditEvent | undefined;
      if (event !== undefined && matchesFilter(event, filter)) await print(chunk[j], event);
    }
  }
  // Only what is listed now: pruned and expired keys leave the set.
  return new Set(keys);
}

/** stdout that stops the command once the reader has gone (a closed pipe). */
class Output {
  closed = false;
  #stop: () => void;
  #encoder = new TextEncoder();

  constructor(stop: () => void) {
    this.#stop = stop;
  }

  async write(text: string): Promise<void> {
    if (this.closed) return;
    let bytes = this.#encoder.encode(text);
    try {
      while (bytes.length > 0) bytes = bytes.subarray(await Deno.stdout.write(bytes));
    } catch {
      // EPIPE and the like: nobody reads any more, which ends a follow.
      this.closed = true;
      this.#stop();
    }
  }
}
