/**
 * The write path of the local file adapter: one write of one scope, under
 * the scope's in-process mutex and OS lock, appended to its log and made
 * durable; compaction, a scope's first log (and format-1 conversion), and
 * deleteScope.
 */
import { createHash } from "node:crypto";
import { CoordinatorError } from "../../core/errors.ts";
import type { Scope } from "../../core/scope.ts";
import type { AdapterLimits, Entry } from "../contract.ts";
import { checkRestoredEntry } from "../values.ts";
import type { FileContext, ScopeFiles } from "./_context.ts";
import {
  ioUnavailable,
  removeFileDurably,
  replaceFileAtomically,
  withFileLock,
  writeAllSync,
} from "./_io.ts";
import {
  applyRecord,
  buildSnapshot,
  corrupt,
  encodeRecord,
  type LogHeader,
  type LogRecord,
  type LogState,
  newFileId,
  newLogState,
} from "./_log.ts";
import {
  hasLiveKey,
  isLive,
  readLegacy,
  readLegacyBytes,
  readLog,
  type ScopeView,
} from "./_read.ts";
import { type LegacyScope, parseLegacyFile } from "./_v1.ts";

/** A log is compacted once it is larger than this... */
const COMPACT_MIN_BYTES = 64 * 1024;
/** ...and than this many times the size of a snapshot of its keys. */
const COMPACT_FACTOR = 4;

/** What a write decides: the line to append (or none) and what to return. */
export interface Decision<T> {
  record: LogRecord | null;
  result: T;
}

/**
 * A format-1 file beside the scope's log. The log always wins; the old file
 * is removed when it is the very file the log was converted from (the
 * conversion was cut short between its two steps). Any other format-1 file
 * there was written after the conversion, most likely by an older version
 * of this server still running: removing it would lose its writes, so the
 * write fails with CORRUPT_STATE until a person has chosen a file.
 */
async function dropConvertedFile(ctx: FileContext, f: ScopeFiles, log: LogState): Promise<void> {
  const bytes = readLegacyBytes(f.legacyPath);
  if (bytes === null) return;
  if (log.header!.migratedSha256 === sha256(bytes)) {
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
 * Runs a write of one scope: serialized in this process, then under the
 * scope's OS lock. `decide` sees the scope's current keys and returns the
 * record to append (null to write nothing) and the result.
 *
 * The lock covers reading the log's new lines, deciding and appending;
 * the fdatasync that makes the line durable runs after the lock is released,
 * and the write returns only once it is done. Writers of other processes
 * thus append while this one waits for the disk, and the kernel commits
 * their lines with fewer flushes. Nothing is acknowledged early: an
 * fdatasync flushes every earlier byte of the file too, so whatever a
 * write was decided on (the lines before its own) is on disk before it
 * returns; only a reader may see a line a few hundred microseconds before
 * it is durable.
 */
export function mutate<T>(
  ctx: FileContext,
  scope: Scope,
  decide: (view: ScopeView | null, nowMs: number) => Decision<T>,
): Promise<T> {
  ctx.ensureOpen();
  const f = ctx.files(scope);
  const { logs } = ctx;
  return ctx.mutex.run(f.log, async () => {
    const { result, unsynced } = await withFileLock(f.lockPath, async () => {
      const access = logs.acquire(f.logPath, f.log, scope);
      if (access === null) {
        const bytes = readLegacyBytes(f.legacyPath);
        const legacy = bytes === null ? null : parseLegacyFile(f.legacyPath, bytes, scope);
        const nowMs = ctx.now();
        const { record, result } = decide(legacy, nowMs);
        if (record !== null) {
          await createLog(
            ctx,
            scope,
            f,
            legacy && { parsed: legacy, bytes: bytes! },
            record,
            nowMs,
          );
        }
        return { result, unsynced: null };
      }
      const { state, size, pin } = access;
      try {
        // Checked at this process's first write to a log it read whole
        // (a first use, or the file was replaced), until the check passes.
        if (!ctx.checked.has(state)) {
          await dropConvertedFile(ctx, f, state);
          ctx.checked.add(state);
        }
        const nowMs = ctx.now();
        const { record, result } = decide(state, nowMs);
        if (record === null) {
          logs.release(pin);
          return { result, unsynced: null };
        }
        await append(ctx, pin.handle, f, state, size, record, nowMs);
        return { result, unsynced: pin };
      } catch (err) {
        logs.release(pin);
        throw err;
      }
    });
    if (unsynced === null) return result;
    try {
      await syncAppended(unsynced.handle, f.logPath);
    } finally {
      logs.release(unsynced);
    }
    return result;
  });
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

/** Replaces a log by a snapshot of its live keys (expired ones dropped). */
async function compact(
  ctx: FileContext,
  f: ScopeFiles,
  state: LogState,
  nowMs: number,
): Promise<void> {
  const header: LogHeader = {
    ...state.header!,
    generation: state.header!.generation + 1,
    seq: state.seq,
    fileId: newFileId(),
    migratedSha256: null,
  };
  const live = [...state.keys].filter(([, stored]) => isLive(stored, nowMs));
  const snapshot = buildSnapshot(header, live);
  await replaceFileAtomically(ctx.basePath, f.log, snapshot.bytes);
  ctx.logs.put(f.log, snapshot.state);
  ctx.checked.add(snapshot.state); // the write that compacts checked already
}

/**
 * Writes a scope's first log: its format-1 keys when it has a format-1 file
 * (versions, times, writers and expiry kept; expired keys dropped) plus
 * `record`, through temp file + fsync + rename + directory fsync, so the log
 * is whole or absent. Then the format-1 file is removed.
 */
async function createLog(
  ctx: FileContext,
  scope: Scope,
  f: ScopeFiles,
  legacy: { parsed: LegacyScope; bytes: Uint8Array } | null,
  record: LogRecord,
  nowMs: number,
): Promise<void> {
  // A scratch replay: the snapshot below recounts everything.
  const state = newLogState();
  for (const [key, stored] of legacy?.parsed.keys ?? []) {
    if (isLive(stored, nowMs)) state.keys.set(key, stored);
  }
  applyRecord(state, record, 0);
  const header: LogHeader = {
    scope,
    generation: 1,
    seq: Math.max(legacy?.parsed.seq ?? 0, state.seq),
    createdAt: legacy?.parsed.createdAt ?? new Date(nowMs).toISOString(),
    fileId: newFileId(),
    migratedSha256: legacy === null ? null : sha256(legacy.bytes),
  };
  const snapshot = buildSnapshot(header, state.keys);
  await replaceFileAtomically(ctx.basePath, f.log, snapshot.bytes);
  ctx.logs.put(f.log, snapshot.state);
  if (legacy !== null) await removeFileDurably(ctx.basePath, f.legacy);
  ctx.checked.add(snapshot.state);
}

/** Deletes a whole scope under its locks; true when it held a live key. */
export function deleteScopeFiles(ctx: FileContext, scope: Scope): Promise<boolean> {
  ctx.ensureOpen();
  const f = ctx.files(scope);
  return ctx.mutex.run(f.log, () =>
    withFileLock(f.lockPath, async () => {
      const nowMs = ctx.now();
      const log = readLog(ctx, f.logPath, f.log, scope);
      if (log !== null) {
        await dropConvertedFile(ctx, f, log);
        ctx.logs.forget(f.log);
        await removeFileDurably(ctx.basePath, f.log);
        return hasLiveKey(log.keys, nowMs);
      }
      const legacy = readLegacy(f.legacyPath, scope);
      if (legacy === null) return false;
      await removeFileDurably(ctx.basePath, f.legacy);
      return hasLiveKey(legacy.keys, nowMs);
    }));
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
export function restoredRecord(entry: Entry, limits: AdapterLimits): LogRecord & { op: "set" } {
  // The checked text is what gets stored, so the caller's object is not shared.
  const { text, expiresMs } = checkRestoredEntry(entry, limits);
  const { version, updatedAt, updatedBy, expiresAt } = entry;
  return {
    op: "set",
    key: "",
    text,
    value: undefined,
    version,
    updatedAt,
    updatedBy,
    expiresAt,
    expiresMs,
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
