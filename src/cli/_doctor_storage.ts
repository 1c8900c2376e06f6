/**
 * doctor's storage checks: the storage answers a read, takes a write, and
 * keeps the same time as this machine (networked adapters).
 */
import type { ServerContext } from "../core/context.ts";
import { ERROR_HINTS, isCoordinatorError } from "../core/errors.ts";
import { resolveScope } from "../core/scope_names.ts";
import { instancesScope } from "../core/session/mod.ts";
import type { StorageAdapter } from "../storage/contract.ts";
import { isFileAdapter } from "../storage/file/adapter.ts";
import { type CheckResult, finding } from "./_check.ts";
import { millis } from "./_format.ts";

/** A clock further off than this from the storage server's is a problem. */
export const MAX_CLOCK_OFFSET_MS = 1_000;
/** Where the write probe goes; its key lives a minute at most, and is deleted at once. */
const PROBE_SCOPE = "@project:doctor";

/** What the storage is, for messages: "local at /x/.claude/session-state", "redis". */
export function describeStorage(storage: StorageAdapter): string {
  return isFileAdapter(storage) ? `local at ${storage.basePath}` : storage.name;
}

/** The fix for an error the storage threw. */
function fixFor(err: unknown, storage: StorageAdapter | null, writing: boolean): string {
  if (storage !== null && isFileAdapter(storage)) {
    const dir = storage.basePath;
    const why = err instanceof Error ? err.message : "";
    if (!writing) return `make ${dir} a directory this user can read and write`;
    if (/read-only file system/i.test(why)) {
      return `its file system is mounted read-only: remount it read-write, or move storage.config.base_path to a writable one`;
    }
    if (/no space left|disk quota/i.test(why)) {
      return `its file system is full: free space there, or move storage.config.base_path`;
    }
    return `give this user write access to ${dir} and its .locks directory (chmod, chown), or move storage.config.base_path`;
  }
  if (isCoordinatorError(err)) {
    return writing && err.code === "STORAGE_UNAVAILABLE"
      ? "check that the server accepts writes (not a read-only replica, not out of memory) and that the user may write"
      : ERROR_HINTS[err.code];
  }
  return "run again with --verbose for the cause";
}

/** The error of a failed check, as one line. */
export function errorLine(err: unknown): string {
  return isCoordinatorError(err)
    ? `${err.code}: ${err.message}`
    : err instanceof Error
    ? err.message
    : String(err);
}

/**
 * The finding of a storage that could not even be opened; `stateDir` is
 * the local adapter's directory (null for the others).
 */
export function openFailure(err: unknown, stateDir: string | null): CheckResult {
  const fix = stateDir !== null && isCoordinatorError(err, "STORAGE_UNAVAILABLE")
    ? `make ${stateDir} a directory this user can read and write (or point storage.config.base_path at one)`
    : fixFor(err, null, false);
  return finding("storage", "problem", `cannot open the storage: ${errorLine(err)}`, fix);
}

/** Reads the instances scope (timed), then writes and deletes a probe key. */
export async function checkReadWrite(ctx: ServerContext): Promise<CheckResult[]> {
  const { storage } = ctx;
  const what = describeStorage(storage);
  const started = performance.now();
  try {
    await storage.listKeys(instancesScope(ctx));
  } catch (err) {
    return [
      finding(
        "storage",
        "problem",
        `${what} cannot be read: ${errorLine(err)}`,
        fixFor(err, storage, false),
      ),
      finding("writable", "skipped", "not checked: the storage cannot be read"),
    ];
  }
  const read = finding(
    "storage",
    "ok",
    `${what} answered a read in ${millis(performance.now() - started)}`,
  );
  const scope = resolveScope(ctx.identity, PROBE_SCOPE);
  const key = `probe:${ctx.identity.machine}:${Deno.pid}`;
  const writeStarted = performance.now();
  try {
    await storage.store(scope, key, { doctor: true }, { ttlSeconds: 60 });
    await storage.delete(scope, key);
  } catch (err) {
    return [
      read,
      finding(
        "writable",
        "problem",
        `${what} refused a write: ${errorLine(err)}`,
        fixFor(err, storage, true),
      ),
    ];
  }
  return [
    read,
    finding(
      "writable",
      "ok",
      `wrote and deleted a probe key in ${millis(performance.now() - writeStarted)}`,
    ),
  ];
}

/**
 * This machine's clock against the storage's. Redis and PostgreSQL measure
 * the server's clock at each connect and follow it (`storage.now()` is this
 * machine's clock plus that offset), so `storage.now() - localClock()` is
 * the offset they measured. `adapterLog` holds what the adapter said while
 * opening: whether it could read the server's clock at all.
 */
export function checkClock(
  storage: StorageAdapter,
  localClock: () => number,
  adapterLog: string[],
): CheckResult {
  if (storage.name === "local" || storage.name === "memory") {
    return finding(
      "clock",
      "ok",
      `not applicable: the ${storage.name} adapter keeps this machine's time`,
    );
  }
  const unread = adapterLog.find((l) => /could not read the server's clock/.test(l));
  if (unread !== undefined) {
    return finding(
      "clock",
      "warning",
      `the ${storage.name} server's clock could not be read, so expiries follow this machine's clock: ${unread}`,
      "allow TIME for the storage user (Redis ACL: +time), so every machine follows the server's clock",
    );
  }
  const offset = Math.round(storage.now() - localClock());
  const size = `${(Math.abs(offset) / 1000).toFixed(1)} s`;
  const side = offset > 0 ? "behind" : "ahead of";
  const detail = `this machine's clock is ${
    offset === 0 ? "in step with" : `${size} ${side}`
  } the ${storage.name} server's`;
  if (Math.abs(offset) <= MAX_CLOCK_OFFSET_MS) {
    return finding(
      "clock",
      "ok",
      `${detail} (${offset} ms; at most ${MAX_CLOCK_OFFSET_MS} ms is fine)`,
    );
  }
  return finding(
    "clock",
    "problem",
    `${detail} (${offset} ms). Leases follow the server's clock as measured at each connect, ` +
      `but a clock this far off drifts between connects (leases then expire early or late), and ` +
      `the times this machine writes elsewhere (git, logs) disagree with the other machines'`,
    "synchronise this machine's clock (NTP: timedatectl set-ntp true, chrony or ntpd) and the server's",
  );
}
