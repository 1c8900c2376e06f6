/**
 * The write path of the local file adapter: one write of one scope (a store,
 * delete, restore or batch), under the scope's in-process mutex and OS
 * locks, appended to its log as one line and made durable; compaction; and
 * a scope's first log (with format-1 conversion).
 *
 * Locks, in this order, each verified to still be the file at its path:
 * 1. the scope's lock file, exclusive (_lock.ts): what every version of
 *    this server takes, so old and new servers exclude each other;
 * 2. the log itself, exclusive (flock on the cached handle), where the OS
 *    has inode numbers: a lock file deleted while its holder works lets the
 *    next writer in on a new lock file, but the log is the same file, so
 *    that writer still waits here. A log is only ever replaced while its
 *    lock is held (compaction, deleteScope), and a first log is created only
 *    where none exists (createFileAtomically), so the lock on the log's
 *    file is the lock on the scope. Not on Windows, whose locks are
 *    mandatory: they would stop other processes' lock-free reads;
 * 3. the guard scope's lock file, shared, when the write has a guard in
 *    another scope (_guard.ts).
 * Only the first is waited for while holding nothing; the others are only
 * tried, and when busy the write lets everything go, waits, and starts over,
 * so no two writers ever wait for each other in a circle.
 */
import { createHash } from "node:crypto";
import { CoordinatorError } from "../../core/errors.ts";
import type { Scope } from "../../core/scope.ts";
import { type AdapterLimits, type Entry, type Guard, versionSeed } from "../contract.ts";
import { checkRestoredEntry } from "../values.ts";
import type { Access, Pin } from "./_cache.ts";
import type { FileContext, ScopeFiles } from "./_context.ts";
import { ioUnavailable } from "./_errors.ts";
import { checkGuardNow, lockGuardScope, releaseGuardScope } from "./_guard.ts";
import {
  createFileAtomically,
  removeFileDurably,
  replaceFileAtomically,
  writeAllSync,
} from "./_io.ts";
import { LOCK_WAIT_MS, lockTimeout, takeLock } from "./_lock.ts";
import {
  applyRecord,
  buildSnapshot,
  corrupt,
  type DelRecord,
  encodeRecord,
  type LogHeader,
  type LogRecord,
  type LogState,
  newFileId,
  newLogState,
  type SetRecord,
  type StoredKey,
} from "./_log.ts";
import { isLive, readLegacyBytes, type ScopeView } from "./_read.ts";
import { MAX_STATE_FILE_BYTES } from "./_safe_file.ts";
import { type LegacyScope, parseLegacyFile } from "./_v1.ts";

/** A log is compacted once it is larger than this... */
const COMPACT_MIN_BYTES = 64 * 1024;
/** ...and than this many times the size of a snapshot of its keys. */
const COMPACT_FACTOR = 4;
/** See the module comment, lock 2. */
const LOCK_LOGS = Deno.build.os !== "windows";

/** What a write decides: the writes to append (none: write nothing) and what to return. */
export interface Decision<T> {
  writes: (SetRecord | DelRecord)[];
  result: T;
}

/** One write of one scope; see mutate. */
export interface WriteRequest<T> {
  scope: Scope;
  guard: Guard | undefined;
  /** The key a failed guard's error names (null for several). */
  guardKey: string | null;
  /**
   * Sees the scope as it is under the locks (a new scope: no keys, and a
   * counter seeded from the clock) and decides. Called again when the write
   * has to start over, so it must not change anything itself.
   */
  decide: (view: ScopeView, nowMs: number) => Decision<T>;
}

/** How a try under the locks ended: done, or start over (after waiting for a lock file). */
export type Step<T> =
  | { kind: "done"; result: T; unsynced: Pin | null }
  | { kind: "retry"; waitFor: string | null };

const RETRY: Step<never> = { kind: "retry", waitFor: null };

/**
 * Runs a write of one scope: serialized in this process, then under the
 * scope's locks (see the module comment), with its guard checked there too.
 *
 * The locks cover reading the log's new lines, checking, deciding and
 * appending; the fdatasync that makes the line durable runs after they are
 * released, and the write returns only once it is done. Writers of other
 * processes thus append while this one waits for the disk, and the kernel
 * commits their lines with fewer flushes. Nothing is acknowledged early: an
 * fdatasync flushes every earlier byte of the file too, so whatever a write
 * was decided on (the lines before its own) is on disk before it returns;
 * only a reader may see a line a few hundred microseconds before it is
 * durable.
 */
export function mutate<T>(ctx: FileContext, request: WriteRequest<T>): Promise<T> {
  ctx.ensureOpen();
  const f = ctx.files(request.scope);
  return ctx.mutex.run(f.log, async () => {
    const step = await underScopeLock(
      ctx,
      f,
      (log) => writeOnce(ctx, f, request, log as Access | null),
    );
    if (step.unsynced === null) return step.result;
    try {
      await syncAppended(step.unsynced.handle, f.logPath);
    } finally {
      ctx.logs.release(step.unsynced);
    }
    return step.result;
  });
}

/**
 * Runs `attempt` under the scope's locks until it is done, handing it the
 * scope's log (locked, up to date) or null when there is none; between tries
 * it waits (holding no lock) for what the try found busy. Gives up with
 * STORAGE_UNAVAILABLE after LOCK_WAIT_MS in all. A log that cannot be read
 * is CORRUPT_STATE, or handed over as "corrupt" when `corruptToo` is set.
 */
export async function underScopeLock<T>(
  ctx: FileContext,
  f: ScopeFiles,
  attempt: (log: Access | null | "corrupt") => Promise<Step<T>>,
  corruptToo = false,
): Promise<{ result: T; unsynced: Pin | null }> {
  const deadline = performance.now() + LOCK_WAIT_MS;
  for (let tries = 0;; tries++) {
    const lock = await ctx.locks.exclusive(f.lockPath, deadline);
    let step: Step<T> = RETRY;
    let log: Access | null | "busy" = "busy";
    try {
      try {
        log = lockLog(ctx, f);
      } catch (err) {
        if (!(corruptToo && isCorruptFile(err, f.logPath))) throw err;
        step = await attempt("corrupt");
      }
      if (log !== "busy") step = await attempt(log);
    } finally {
      if (log !== "busy" && log !== null) {
        unlockLog(log.pin);
        // A pin handed on for the fdatasync is released after it.
        if (!(step.kind === "done" && step.unsynced === log.pin)) ctx.logs.release(log.pin);
      }
      lock.release();
    }
    if (step.kind === "done") return step;
    if (performance.now() > deadline) throw lockTimeout(step.waitFor ?? f.lockPath, LOCK_WAIT_MS);
    if (step.waitFor !== null) {
      // Wait for the guard scope's writer to finish, holding nothing ourselves.
      (await takeLock(step.waitFor, false, deadline)).release();
    } else {
      // Rare (a log replaced or locked by a writer that got past a deleted
      // lock file): a short pause, longer each time, lets that writer finish.
      await new Promise((r) => setTimeout(r, Math.min(1 + tries, 20)));
    }
  }
}

/** One try of a write under the scope's locks. */
async function writeOnce<T>(
  ctx: FileContext,
  f: ScopeFiles,
  request: WriteRequest<T>,
  log: Access | null,
): Promise<Step<T>> {
  const guardLock = lockGuardScope(ctx, request.guard, request.scope);
  if (guardLock.kind === "busy") return { kind: "retry", waitFor: guardLock.lockPath };
  try {
    if (log === null) return await firstWrite(ctx, f, request);
    const { state, size, pin } = log;
    // Checked at this process's first write to a log it read whole
    // (a first use, or the file was replaced), until the check passes.
    if (!ctx.checked.has(state)) {
      await dropConvertedFile(ctx, f, state);
      ctx.checked.add(state);
    }
    const nowMs = ctx.now();
    checkGuardNow(ctx, request.guard, request.scope, request.guardKey, state, nowMs);
    const { writes, result } = request.decide(state, nowMs);
    const record = oneLine(writes);
    if (record === null) return { kind: "done", result, unsynced: null };
    await append(ctx, pin.handle, f, state, size, record, nowMs);
    return { kind: "done", result, unsynced: pin };
  } finally {
    releaseGuardScope(guardLock);
  }
}

/** A write to a scope that has no log yet: its first log, converting a format-1 file if any. */
async function firstWrite<T>(
  ctx: FileContext,
  f: ScopeFiles,
  request: WriteRequest<T>,
): Promise<Step<T>> {
  const bytes = readLegacyBytes(f.legacyPath);
  const legacy = bytes === null ? null : parseLegacyFile(f.legacyPath, bytes, request.scope);
  const nowMs = ctx.now();
  // A scope without a counter (new, or its log lost with the state directory) starts at the clock.
  const view: ScopeView = legacy ?? { keys: new Map(), seq: versionSeed(nowMs) };
  checkGuardNow(ctx, request.guard, request.scope, request.guardKey, view, nowMs);
  const { writes, result } = request.decide(view, nowMs);
  if (writes.length === 0) return { kind: "done", result, unsynced: null };
  const source = legacy && { parsed: legacy, bytes: bytes! };
  const created = await createLog(ctx, request.scope, f, source, writes, view.seq, nowMs);
  // Created meanwhile by a writer that got past a deleted lock file: start over on its log.
  return created ? { kind: "done", result, unsynced: null } : RETRY;
}

/** The line for some writes: none, the one write, or a batch of them. */
function oneLine(writes: (SetRecord | DelRecord)[]): LogRecord | null {
  if (writes.length === 0) return null;
  // One write is its own line, which servers from before batches read too.
  return writes.length === 1 ? writes[0] : { op: "batch", ops: writes };
}

/**
 * The scope's log, brought up to date and locked (see the module comment);
 * null when there is none; "busy" when its lock is held (only by a writer
 * that got past a deleted lock file). The lock is taken before the stat
 * that proves the cached handle is still the file at the path, so nothing
 * is appended or replaced between that proof and our own append.
 */
export function lockLog(ctx: FileContext, f: ScopeFiles): Access | null | "busy" {
  const { logs } = ctx;
  const { scope } = f;
  if (!LOCK_LOGS) return logs.acquire(f.logPath, f.log, scope);
  let pin = logs.peek(f.log);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (pin !== null && !pin.handle.tryLockSync(true)) {
      logs.release(pin);
      return "busy";
    }
    let access: Access | null;
    try {
      access = logs.acquire(f.logPath, f.log, scope);
    } catch (err) {
      if (pin !== null) {
        unlockLog(pin);
        logs.release(pin);
      }
      throw err;
    }
    if (access !== null && access.pin === pin) {
      logs.release(pin); // the lock was ours before the stat: this is the file, up to date
      return access;
    }
    if (pin !== null) {
      unlockLog(pin);
      logs.release(pin);
    }
    if (access === null) return null;
    pin = access.pin; // a handle opened just now: lock it, then look again
  }
  if (pin !== null) logs.release(pin);
  return "busy";
}

/** Lets a log's lock go (the handle may stay cached). */
export function unlockLog(pin: Pin): void {
  if (!LOCK_LOGS) return;
  try {
    pin.handle.unlockSync();
  } catch { /* closed: the lock went with it */ }
}

/** Appends one record (not yet durable), repairing a torn end first; compacts when due. */
async function append(
  ctx: FileContext,
  handle: Deno.FsFile,
  f: ScopeFiles,
  state: LogState,
  size: number,
  record: LogRecord,
  nowMs: number,
): Promise<void> {
  const start = state.end;
  const line = new TextEncoder().encode(encodeRecord(record));
  if (start + line.length > MAX_STATE_FILE_BYTES) {
    // Readers refuse a log this large (_safe_file.ts), so it must not grow there.
    throw new CoordinatorError(
      "VALUE_TOO_LARGE",
      `${f.logPath}: the scope's log would grow past ${MAX_STATE_FILE_BYTES} bytes; delete ` +
        "keys (or the scope) first.",
      { file: f.logPath, limit: MAX_STATE_FILE_BYTES },
    );
  }
  try {
    // Bytes past the last complete line are an append cut short by a crash.
    if (size > start) handle.truncateSync(start);
    writeAllSync(handle, line);
  } catch (err) {
    // Take back whatever part of the line got in (we still hold the lock).
    try {
      handle.truncateSync(start);
    } catch { /* the next writer cuts a torn line anyway */ }
    throw ioUnavailable(f.logPath, "append to the state file", err);
  }
  applyRecord(state, record, line.length);
  if (shouldCompact(state, nowMs)) {
    try {
      await compact(ctx, f, state, nowMs);
    } catch {
      // The write stands; a later write compacts again.
    }
  }
}

/**
 * Makes an appended line durable. A failure leaves the write's outcome
 * unknown (the line is in the file, maybe not on disk), as with a backend
 * that times out: STORAGE_UNAVAILABLE says so.
 */
async function syncAppended(handle: Deno.FsFile, path: string): Promise<void> {
  try {
    await handle.syncData();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CoordinatorError(
      "STORAGE_UNAVAILABLE",
      `${path}: cannot flush the state file to disk (${reason}); the write may or may not ` +
        `have been applied.`,
      { path, reason },
      { cause: err },
    );
  }
}

/**
 * Replaces a log by a snapshot of its live keys (expired ones dropped),
 * under its lock. Batches fold into plain `set` lines here.
 */
async function compact(
  ctx: FileContext,
  f: ScopeFiles,
  state: LogState,
  nowMs: number,
): Promise<void> {
  const live = [...state.keys].filter(([, stored]) => isLive(stored, nowMs));
  await replaceLog(ctx, f, state, live);
}

/** What compacting one log now did: whether it was rewritten, its size before and after. */
export interface CompactOutcome {
  compacted: boolean;
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * Compacts one scope's log now, whatever its size (the `compact` admin
 * command), under the scope's locks like any write, so it is safe while
 * servers run. A log that is already a snapshot (one line per live key, no
 * expired key) is left alone. Null when the scope has no log.
 */
export function compactNow(ctx: FileContext, f: ScopeFiles): Promise<CompactOutcome | null> {
  ctx.ensureOpen();
  return ctx.mutex.run(f.log, async () => {
    const { result } = await underScopeLock(
      ctx,
      f,
      async (log): Promise<Step<CompactOutcome | null>> => {
        if (log === null || log === "corrupt") {
          return { kind: "done", result: null, unsynced: null };
        }
        const { state } = log;
        // Same rule as a write: a format-1 file written beside the log is refused, not lost.
        if (!ctx.checked.has(state)) {
          await dropConvertedFile(ctx, f, state);
          ctx.checked.add(state);
        }
        const nowMs = ctx.now();
        const live = [...state.keys].filter(([, stored]) => isLive(stored, nowMs));
        const bytesBefore = state.end;
        if (live.length === state.keys.size && state.lines === 1 + live.length) {
          const result = { compacted: false, bytesBefore, bytesAfter: bytesBefore };
          return { kind: "done", result, unsynced: null };
        }
        const bytesAfter = await replaceLog(ctx, f, state, live);
        return {
          kind: "done",
          result: { compacted: true, bytesBefore, bytesAfter },
          unsynced: null,
        };
      },
    );
    return result;
  });
}

/**
 * Replaces a log by a new file (generation + 1, the same counter) holding
 * `keys`, under its lock: compaction, and deleteScope with no keys. Returns
 * the new file's size.
 */
export async function replaceLog(
  ctx: FileContext,
  f: ScopeFiles,
  state: LogState,
  keys: Iterable<[string, StoredKey]>,
): Promise<number> {
  const header: LogHeader = {
    ...state.header!,
    generation: state.header!.generation + 1,
    seq: state.seq,
    fileId: newFileId(),
    migratedSha256: null,
  };
  const snapshot = buildSnapshot(header, keys);
  await replaceFileAtomically(ctx.basePath, f.log, snapshot.bytes);
  ctx.logs.put(f.log, snapshot.state);
  ctx.checked.add(snapshot.state); // the write that replaces it checked already
  return snapshot.bytes.length;
}

/**
 * Writes a scope's first log: its format-1 keys when it has a format-1 file
 * (versions, times, writers and expiry kept; expired keys dropped) plus
 * `writes`, through temp file + fsync + link + directory fsync, so the log
 * is whole or absent, and never replaces one made meanwhile (false then).
 * `seq` is the counter to start from. Then the format-1 file is removed.
 */
export async function createLog(
  ctx: FileContext,
  scope: Scope,
  f: ScopeFiles,
  legacy: { parsed: LegacyScope; bytes: Uint8Array } | null,
  writes: (SetRecord | DelRecord)[],
  seq: number,
  nowMs: number,
): Promise<boolean> {
  // A scratch replay: the snapshot below recounts everything.
  const state = newLogState();
  for (const [key, stored] of legacy?.parsed.keys ?? []) {
    if (isLive(stored, nowMs)) state.keys.set(key, stored);
  }
  for (const write of writes) applyRecord(state, write, 0);
  const header: LogHeader = {
    scope,
    generation: 1,
    seq: Math.max(seq, state.seq),
    createdAt: legacy?.parsed.createdAt ?? new Date(nowMs).toISOString(),
    fileId: newFileId(),
    migratedSha256: legacy === null ? null : sha256(legacy.bytes),
  };
  const snapshot = buildSnapshot(header, state.keys);
  if (!await createFileAtomically(ctx.basePath, f.log, snapshot.bytes)) return false;
  ctx.logs.put(f.log, snapshot.state);
  if (legacy !== null) await removeFileDurably(ctx.basePath, f.legacy);
  ctx.checked.add(snapshot.state);
  return true;
}

/**
 * A format-1 file beside the scope's log. The log always wins; the old file
 * is removed when it is the very file the log was converted from (the
 * conversion was cut short between its two steps). Any other format-1 file
 * there was written after the conversion, most likely by an older version
 * of this server still running: removing it would lose its writes, so the
 * write fails with CORRUPT_STATE until a person has chosen a file.
 * `migratedSha256` is that of the log's header (null: none, or unreadable).
 */
export async function dropConvertedFile(
  ctx: FileContext,
  f: ScopeFiles,
  log: LogState | { header: { migratedSha256: string | null } | null },
): Promise<void> {
  const bytes = readLegacyBytes(f.legacyPath);
  if (bytes === null) return;
  if (log.header?.migratedSha256 === sha256(bytes)) {
    await removeFileDurably(ctx.basePath, f.legacy);
    return;
  }
  throw corrupt(
    f.legacyPath,
    `is a format-1 scope file beside the scope's log ${f.log}, written after the log was ` +
      `made (an older version of this server may still be running). Stop it, then keep ` +
      `the file that holds the data you want and remove the other.`,
  );
}

/**
 * True when a log has grown well past a snapshot of its live keys. Keys that
 * expired still count in liveBytes, so once the earliest expiry has passed,
 * the live bytes are counted again (and the next expiry with them): a scope
 * of short-lived claims then compacts too instead of growing for ever.
 */
function shouldCompact(state: LogState, nowMs: number): boolean {
  if (state.end <= COMPACT_MIN_BYTES) return false;
  if (state.end > COMPACT_FACTOR * state.liveBytes) return true;
  if (state.nextExpiryMs === null || state.nextExpiryMs > nowMs) return false;
  let live = state.headerLine.length;
  let next: number | null = null;
  for (const stored of state.keys.values()) {
    if (stored.expiresMs !== null && stored.expiresMs <= nowMs) continue;
    live += stored.lineBytes;
    const exp = stored.expiresMs;
    if (exp !== null && (next === null || exp < next)) next = exp;
  }
  state.nextExpiryMs = next;
  return state.end > COMPACT_FACTOR * live;
}

/** The log record restore() appends for an exported entry, after the shared checks. */
export function restoredRecord(key: string, entry: Entry, limits: AdapterLimits): SetRecord {
  // The checked text is what gets stored, so the caller's object is not shared.
  const { text, expiresMs, heldBy } = checkRestoredEntry(entry, limits);
  const { version, updatedAt, updatedBy, expiresAt } = entry;
  return {
    op: "set",
    key,
    text,
    value: undefined,
    version,
    updatedAt,
    updatedBy,
    expiresAt,
    expiresMs,
    heldBy,
  };
}

/** CORRUPT_STATE about `file` itself (not about a guard scope or a format-1 file beside it). */
export function isCorruptFile(err: unknown, file: string): boolean {
  return err instanceof CoordinatorError && err.code === "CORRUPT_STATE" &&
    err.details.file === file;
}

/** The sha256 of some bytes, in hex. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
