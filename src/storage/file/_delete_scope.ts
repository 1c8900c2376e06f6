/**
 * deleteScope of the local file adapter. The scope's log is replaced by a
 * log of its header alone (generation + 1), which keeps the version counter:
 * versions after a deleteScope still only grow. A scope still in a format-1
 * file gets such a log too, carrying the file's counter, and the old file
 * is removed.
 *
 * A corrupt scope can always be deleted: it is the remedy the error points
 * to. Its counter is kept when its header can be read, and seeded from the
 * clock otherwise (versionSeed), never lower than either; a symlink, FIFO
 * or device in the log's place is replaced without being read (a rename
 * replaces the link, never its target).
 */
import type { Scope } from "../../core/scope.ts";
import { type Guard, versionSeed } from "../contract.ts";
import { guardFailed } from "../values.ts";
import type { FileContext, ScopeFiles } from "./_context.ts";
import { checkGuardNow, lockGuardScope, releaseGuardScope } from "./_guard.ts";
import {
  createFileAtomically,
  readAtSync,
  removeFileDurably,
  replaceFileAtomically,
} from "./_io.ts";
import {
  applyLines,
  buildSnapshot,
  corrupt,
  type LogHeader,
  type LogState,
  newFileId,
  newLogState,
} from "./_log.ts";
import { hasLiveKey, readLegacyBytes, type ScopeView } from "./_read.ts";
import { MAX_STATE_FILE_BYTES, sameFile } from "./_safe_file.ts";
import { type LegacyScope, parseLegacyFile } from "./_v1.ts";
import {
  dropConvertedFile,
  isCorruptFile,
  replaceLog,
  type Step,
  underScopeLock,
} from "./_write.ts";

/** How much of an oversized log is read to find its header. */
const HEADER_BYTES = 64 * 1024;

/** Deletes a whole scope under its locks; true when it held a live key. */
export function deleteScope(
  ctx: FileContext,
  scope: Scope,
  guard: Guard | undefined,
): Promise<boolean> {
  ctx.ensureOpen();
  const f = ctx.files(scope);
  return ctx.mutex.run(f.log, async () => {
    const { result } = await underScopeLock(ctx, f, async (log): Promise<Step<boolean>> => {
      const guardLock = lockGuardScope(ctx, guard, scope);
      if (guardLock.kind === "busy") return { kind: "retry", waitFor: guardLock.lockPath };
      try {
        const nowMs = ctx.now();
        if (log === "corrupt") return await deleteCorruptLog(ctx, f, guard, nowMs);
        if (log === null) return await deleteWithoutLog(ctx, f, guard, nowMs);
        const { state } = log;
        checkGuardNow(ctx, guard, scope, null, state, nowMs);
        await dropConvertedFile(ctx, f, state);
        // Nothing held, live or expired: the log is as a delete would leave it.
        if (state.keys.size === 0) return done(false);
        const live = hasLiveKey(state.keys, nowMs);
        await replaceLog(ctx, f, state, []);
        return done(live);
      } finally {
        releaseGuardScope(guardLock);
      }
    }, true);
    return result;
  });
}

function done(result: boolean): Step<boolean> {
  return { kind: "done", result, unsynced: null };
}

/** The scope has no log: a format-1 file (readable or not), or nothing. */
async function deleteWithoutLog(
  ctx: FileContext,
  f: ScopeFiles,
  guard: Guard | undefined,
  nowMs: number,
): Promise<Step<boolean>> {
  let legacy: LegacyScope | null = null;
  let seq: number;
  try {
    const bytes = readLegacyBytes(f.legacyPath);
    legacy = bytes === null ? null : parseLegacyFile(f.legacyPath, bytes, f.scope);
    checkGuardNow(ctx, guard, f.scope, null, legacy ?? empty(), nowMs);
    if (legacy === null) return done(false); // no scope at all: no counter to keep
    seq = legacy.seq;
  } catch (err) {
    if (!isCorruptFile(err, f.legacyPath)) throw err;
    refuseSameScopeGuard(guard, f.scope);
    checkGuardNow(ctx, guard, f.scope, null, empty(), nowMs);
    const info = await Deno.lstat(f.legacyPath);
    if (info.isDirectory) throw err; // never removed: it may hold anything
    // Its counter if the JSON still says it, but never below the clock.
    seq = Math.max(salvageLegacySeq(f.legacyPath), versionSeed(nowMs));
  }
  const header = newHeader(f.scope, 0, seq, nowMs);
  if (legacy !== null) header.createdAt = legacy.createdAt;
  const snapshot = buildSnapshot(header, []);
  if (!await createFileAtomically(ctx.basePath, f.log, snapshot.bytes)) {
    return { kind: "retry", waitFor: null }; // made meanwhile: delete that log instead
  }
  ctx.logs.put(f.log, snapshot.state);
  ctx.checked.add(snapshot.state);
  await removeFileDurably(ctx.basePath, f.legacy);
  return done(legacy !== null && hasLiveKey(legacy.keys, nowMs));
}

/**
 * Replaces a log that cannot be read. What can be salvaged of it (its
 * header, the complete lines before the bad one) only sets the counter; its
 * keys go with it.
 */
async function deleteCorruptLog(
  ctx: FileContext,
  f: ScopeFiles,
  guard: Guard | undefined,
  nowMs: number,
): Promise<Step<boolean>> {
  refuseSameScopeGuard(guard, f.scope);
  checkGuardNow(ctx, guard, f.scope, null, empty(), nowMs);
  const info = await Deno.lstat(f.logPath).catch(() => null);
  if (info === null) return { kind: "retry", waitFor: null }; // gone meanwhile
  if (info.isDirectory) throw corrupt(f.logPath, "is a directory.");
  const salvaged = info.isFile ? salvageLog(f.logPath) : newLogState();
  // The converted-from check needs the header; without one, a format-1 file beside is kept.
  await dropConvertedFile(ctx, f, salvaged);
  const seq = Math.max(salvaged.seq, versionSeed(nowMs));
  const header = newHeader(f.scope, salvaged.header?.generation ?? 0, seq, nowMs);
  if (salvaged.header !== null) header.createdAt = salvaged.header.createdAt;
  const snapshot = buildSnapshot(header, []);
  await replaceFileAtomically(ctx.basePath, f.log, snapshot.bytes);
  ctx.logs.put(f.log, snapshot.state);
  ctx.checked.add(snapshot.state);
  return done(hasLiveKey(salvaged.keys, ctx.now()));
}

/** A scope with no keys, for guards in a scope that holds none (a new one: nothing is shared). */
function empty(): ScopeView {
  return { keys: new Map(), seq: 0 };
}

/** A guard in the very scope that cannot be read cannot hold. */
function refuseSameScopeGuard(guard: Guard | undefined, scope: Scope): void {
  if (guard !== undefined && guard.scope === scope) throw guardFailed(guard, scope, null);
}

function newHeader(scope: Scope, generation: number, seq: number, nowMs: number): LogHeader {
  return {
    scope,
    generation: generation + 1,
    seq,
    createdAt: new Date(nowMs).toISOString(),
    fileId: newFileId(),
    migratedSha256: null,
  };
}

/**
 * The replay of a corrupt log's readable lines (header included when it is
 * readable), never throwing: best effort, for its counter. Only the start
 * of a file over the size limit is read.
 */
function salvageLog(path: string): LogState {
  const state = newLogState();
  try {
    const opened = openChecked(path);
    if (opened === null) return state;
    try {
      const { size } = opened.info;
      applyLines(state, path, readAtSync(opened.handle, 0, Math.min(size, salvageBytes(size))));
    } finally {
      opened.handle.close();
    }
  } catch { /* what was applied before the bad line stays */ }
  return state;
}

/** All of a file up to the size limit; only its start beyond. */
function salvageBytes(size: number): number {
  return size > MAX_STATE_FILE_BYTES ? HEADER_BYTES : size;
}

/** The counter of a format-1 file that does not parse as a whole, if it has one; else 0. */
function salvageLegacySeq(path: string): number {
  try {
    const opened = openChecked(path);
    if (opened === null || opened.info.size > MAX_STATE_FILE_BYTES) {
      opened?.handle.close();
      return 0;
    }
    let bytes: Uint8Array;
    try {
      bytes = readAtSync(opened.handle, 0, opened.info.size);
    } finally {
      opened.handle.close();
    }
    const doc = JSON.parse(new TextDecoder().decode(bytes));
    const seq = doc?.metadata?.seq;
    return Number.isSafeInteger(seq) && seq > 0 ? seq : 0;
  } catch {
    return 0;
  }
}

/**
 * Opens a regular file that is no symlink, whatever its size (only part of
 * it is read), checking after the open that it is the file checked; null
 * for anything else.
 */
function openChecked(path: string): { handle: Deno.FsFile; info: Deno.FileInfo } | null {
  const checked = Deno.lstatSync(path);
  if (!checked.isFile) return null;
  let handle: Deno.FsFile;
  try {
    handle = Deno.openSync(path, { read: true, write: true }); // never blocks on a FIFO
  } catch (err) {
    if (!(err instanceof Deno.errors.PermissionDenied)) throw err;
    handle = Deno.openSync(path, { read: true });
  }
  const info = handle.statSync();
  if (info.isFile && sameFile(info, checked)) return { handle, info };
  handle.close();
  return null;
}
