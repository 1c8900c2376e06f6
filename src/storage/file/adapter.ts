/**
 * The local file adapter ("local"), the embedded default: one append-only
 * JSON Lines log per scope directly inside a state directory, shared safely
 * by several processes on one machine.
 *
 * The state directory:
 *   <encoded scope>.jsonl       a scope's log (format 2, see _file_log.ts)
 *   <encoded scope>.json        a scope file of format 1 (see _file_v1.ts),
 *                               read as it is, converted on its first write
 *   .locks/<encoded scope>.json.lock   the scope's OS lock file, never deleted
 *   .<name>.<pid>.<hex>.tmp     a file being written whole (swept when stale)
 * Names encode the scope reversibly (scope.ts); long scopes get a hashed name.
 *
 * A write (store, delete, restore) takes the scope's in-process mutex, then
 * its OS lock; brings the process's cached replay of the log up to date by
 * reading only what other processes appended since (_file_cache.ts); checks
 * `ifVersion`; cuts off a torn last line a crashed writer left; appends one
 * line with one write; releases the lock; and returns once one fdatasync
 * has made the line durable. `seq`, the scope's version counter, is the
 * largest version the log has handed out; each write gets ++seq, so versions
 * never repeat, not even after a delete and re-create. When the log has grown
 * past COMPACT_MIN_BYTES and COMPACT_FACTOR times what its live keys need,
 * the writer replaces it by a snapshot (temp file, fsync, rename, directory
 * fsync), dropping expired keys. Deleting the last key keeps the log (and
 * seq); only deleteScope removes it, which restarts versions.
 *
 * Reads take no lock: they refresh the cache the same way, and only ever
 * apply complete lines, so a half-written append is never seen.
 *
 * A scope still in a format-1 file is read from it; its first write converts
 * it (the log is written whole, then the old file removed). If both exist,
 * the log is the scope; see dropConvertedFile for the old file's fate.
 */
import { isAbsolute, join, resolve } from "node:path";
import { createHash } from "node:crypto";
import { z } from "zod";
import { CoordinatorError, invalidArgument } from "../../core/errors.ts";
import type { JsonValue } from "../../core/json.ts";
import { globToRegExp, type Scope, validateKey, validateScope } from "../../core/scope.ts";
import {
  fileNameToScope,
  isHashedFileName,
  LEGACY_FILE_SUFFIX,
  LOG_FILE_SUFFIX,
  scopeToFileName,
} from "./names.ts";
import type {
  AdapterLimits,
  DeleteOptions,
  Entry,
  ExportedKey,
  StorageAdapter,
  StoreOptions,
  StoreResult,
} from "../contract.ts";
import type { AdapterFactory } from "../registry.ts";
import {
  checkIfVersion,
  checkRestoredEntry,
  encodeValue,
  expiryFromTtl,
  versionConflict,
} from "../values.ts";
import {
  createKeyedMutex,
  ioUnavailable,
  removeFileDurably,
  replaceFileAtomically,
  sweepStaleTempFiles,
  withFileLock,
  writeAllSync,
} from "./_io.ts";
import {
  applyRecord,
  buildSnapshot,
  compareStrings,
  corrupt,
  encodeRecord,
  type LogHeader,
  type LogRecord,
  type LogState,
  newFileId,
  newLogState,
  type StoredKey,
  valueOf,
} from "./_log.ts";
import { type LegacyScope, parseLegacyFile } from "./_v1.ts";
import { createLogCache } from "./_cache.ts";

/** Options of createFileAdapter. */
export interface FileAdapterOptions {
  /** Absolute path of the state directory; created when missing. */
  basePath: string;
  limits: AdapterLimits;
  /** Clock in epoch milliseconds, for expiry; Date.now by default. */
  now?: () => number;
}

/** The state directory used when the config names none, relative to the project root. */
export const DEFAULT_BASE_PATH = ".claude/session-state";

/** Where the per-scope lock files live, inside the state directory. */
const LOCK_DIR = ".locks";
/** A log is compacted once it is larger than this... */
const COMPACT_MIN_BYTES = 64 * 1024;
/** ...and than this many times the size of a snapshot of its keys. */
const COMPACT_FACTOR = 4;
/** How many scopes a process keeps cached (least recently used go first)... */
const CACHED_SCOPES = 512;
/** ...and for how many of them it keeps the log open (see _file_cache.ts). */
const PINNED_SCOPES = 64;
/** Reads let the event loop run at least this often (ms); see eventLoopTurn. */
const MAX_SYNC_MS = 20;

/** The names and paths that belong to one scope. */
interface ScopeFiles {
  /** The log's file name (format 2), the mutex and cache key. */
  log: string;
  logPath: string;
  /** The format-1 file name. */
  legacy: string;
  legacyPath: string;
  /** The lock file: named after the format-1 name, as before, so old and new code exclude each other. */
  lockPath: string;
}

/** What a write decides: the line to append (or none) and what to return. */
interface Decision<T> {
  record: LogRecord | null;
  result: T;
}

/** What a write sees of a scope: its keys and version counter (null: no scope file). */
interface ScopeView {
  keys: Map<string, StoredKey>;
  seq: number;
}

/** Creates the local file adapter over an absolute state directory. */
export async function createFileAdapter(options: FileAdapterOptions): Promise<StorageAdapter> {
  const { limits } = options;
  const now = options.now ?? Date.now;
  if (!isAbsolute(options.basePath)) {
    throw new CoordinatorError(
      "CONFIG_INVALID",
      `storage.config.base_path: ${
        JSON.stringify(options.basePath)
      } must be an absolute path here.`,
      { base_path: options.basePath },
    );
  }
  const basePath = resolve(options.basePath);
  const lockDir = join(basePath, LOCK_DIR);
  try {
    await Deno.mkdir(lockDir, { recursive: true });
  } catch (err) {
    throw ioUnavailable(basePath, "create the state directory", err);
  }

  // A temp file of a log ("x.jsonl") is guarded by the scope's lock ("x.json.lock").
  const lockPathOf = (target: string) =>
    join(lockDir, target.replace(/\.jsonl$/, LEGACY_FILE_SUFFIX) + ".lock");
  await sweepStaleTempFiles(basePath, lockPathOf);

  const mutex = createKeyedMutex();
  const logs = createLogCache(CACHED_SCOPES, PINNED_SCOPES);
  /** Replays whose scope was checked for a format-1 file left beside the log. */
  const checked = new WeakSet<LogState>();
  let closed = false;

  function ensureOpen(): void {
    if (closed) {
      throw new CoordinatorError("STORAGE_UNAVAILABLE", "adapter is closed.", { adapter: "local" });
    }
  }

  /** Names of recently used scopes: encoding them is most of a read's own work. */
  const names = new Map<string, ScopeFiles>();

  function filesOf(scope: Scope): ScopeFiles {
    const known = names.get(scope);
    if (known !== undefined) return known;
    const log = scopeToFileName(scope, LOG_FILE_SUFFIX);
    const legacy = scopeToFileName(scope, LEGACY_FILE_SUFFIX);
    const files = {
      log,
      logPath: join(basePath, log),
      legacy,
      legacyPath: join(basePath, legacy),
      lockPath: lockPathOf(legacy),
    };
    if (names.size >= CACHED_SCOPES) names.clear();
    names.set(scope, files);
    return files;
  }

  /** The up-to-date replay of a log, or null when there is no log. No lock: synchronous. */
  function readLog(path: string, name: string, expected: Scope | null): LogState | null {
    const access = logs.acquire(path, name, expected);
    if (access === null) return null;
    logs.release(access.pin);
    return access.state;
  }

  /** The bytes of a format-1 file, or null when there is none. */
  function readLegacyBytes(path: string): Uint8Array | null {
    try {
      return Deno.readFileSync(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      if (err instanceof Deno.errors.IsADirectory) throw corrupt(path, "is a directory.");
      throw ioUnavailable(path, "read the state file", err);
    }
  }

  function readLegacy(path: string, expected: Scope | null): LegacyScope | null {
    const bytes = readLegacyBytes(path);
    return bytes === null ? null : parseLegacyFile(path, bytes, expected);
  }

  /** The keys of a scope: from its log, else from its format-1 file; null when neither exists. */
  function readScope(scope: Scope): Map<string, StoredKey> | null {
    const f = filesOf(scope);
    const log = readLog(f.logPath, f.log, scope);
    if (log !== null) return log.keys;
    const legacy = readLegacy(f.legacyPath, scope);
    if (legacy !== null) return legacy.keys;
    // Converted meanwhile? A conversion writes the log before it removes the
    // old file, so a log that was missing a moment ago may be there now.
    return readLog(f.logPath, f.log, scope)?.keys ?? null;
  }

  /**
   * A format-1 file beside the scope's log. The log always wins; the old file
   * is removed when it is the very file the log was converted from (the
   * conversion was cut short between its two steps). Any other format-1 file
   * there was written after the conversion, most likely by an older version
   * of this server still running: removing it would lose its writes, so the
   * write fails with CORRUPT_STATE until a person has chosen a file.
   */
  async function dropConvertedFile(f: ScopeFiles, log: LogState): Promise<void> {
    const bytes = readLegacyBytes(f.legacyPath);
    if (bytes === null) return;
    if (log.header!.migratedSha256 === sha256(bytes)) {
      await removeFileDurably(basePath, f.legacy);
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
  function mutate<T>(
    scope: Scope,
    decide: (view: ScopeView | null, nowMs: number) => Decision<T>,
  ): Promise<T> {
    ensureOpen();
    const f = filesOf(scope);
    return mutex.run(f.log, async () => {
      const { result, unsynced } = await withFileLock(f.lockPath, async () => {
        const access = logs.acquire(f.logPath, f.log, scope);
        if (access === null) {
          const bytes = readLegacyBytes(f.legacyPath);
          const legacy = bytes === null ? null : parseLegacyFile(f.legacyPath, bytes, scope);
          const nowMs = now();
          const { record, result } = decide(legacy, nowMs);
          if (record !== null) {
            await createLog(scope, f, legacy && { parsed: legacy, bytes: bytes! }, record, nowMs);
          }
          return { result, unsynced: null };
        }
        const { state, size, pin } = access;
        try {
          // Checked at this process's first write to a log it read whole
          // (a first use, or the file was replaced), until the check passes.
          if (!checked.has(state)) {
            await dropConvertedFile(f, state);
            checked.add(state);
          }
          const nowMs = now();
          const { record, result } = decide(state, nowMs);
          if (record === null) {
            logs.release(pin);
            return { result, unsynced: null };
          }
          await append(pin.handle, f, state, size, record, nowMs);
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
        await compact(f, state, nowMs);
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
  async function compact(f: ScopeFiles, state: LogState, nowMs: number): Promise<void> {
    const header: LogHeader = {
      ...state.header!,
      generation: state.header!.generation + 1,
      seq: state.seq,
      fileId: newFileId(),
      migratedSha256: null,
    };
    const live = [...state.keys].filter(([, stored]) => isLive(stored, nowMs));
    const snapshot = buildSnapshot(header, live);
    await replaceFileAtomically(basePath, f.log, snapshot.bytes);
    logs.put(f.log, snapshot.state);
    checked.add(snapshot.state); // the write that compacts checked already
  }

  /**
   * Writes a scope's first log: its format-1 keys when it has a format-1 file
   * (versions, times, writers and expiry kept; expired keys dropped) plus
   * `record`, through temp file + fsync + rename + directory fsync, so the log
   * is whole or absent. Then the format-1 file is removed.
   */
  async function createLog(
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
    await replaceFileAtomically(basePath, f.log, snapshot.bytes);
    logs.put(f.log, snapshot.state);
    if (legacy !== null) await removeFileDurably(basePath, f.legacy);
    checked.add(snapshot.state);
  }

  function liveEntries(scope: Scope): ExportedKey[] {
    const keys = readScope(scope);
    if (keys === null) return [];
    const nowMs = now();
    const out: ExportedKey[] = [];
    for (const [key, stored] of keys) {
      if (isLive(stored, nowMs)) out.push({ key, entry: toEntry(stored) });
    }
    return out.sort((a, b) => compareStrings(a.key, b.key));
  }

  function liveKeys(scope: Scope): string[] {
    const keys = readScope(scope);
    if (keys === null) return [];
    const nowMs = now();
    const out: string[] = [];
    for (const [key, stored] of keys) if (isLive(stored, nowMs)) out.push(key);
    return out.sort(compareStrings);
  }

  /** The scope a log holds if it has a live key; null otherwise, or for foreign and unreadable files. */
  function scopeOfLog(name: string, matches: (s: string) => boolean, nowMs: number): string | null {
    const readable = fileNameToScope(name, LOG_FILE_SUFFIX);
    if (readable === null && !isHashedFileName(name, LOG_FILE_SUFFIX)) return null; // not ours
    // Filtering by name first spares reading logs the pattern excludes.
    if (readable !== null && !matches(readable)) return null;
    let state: LogState | null;
    try {
      state = readLog(join(basePath, name), name, readable);
    } catch {
      // A corrupt log with a readable name is listed so the user sees the
      // scope (and meets CORRUPT_STATE when reading it); a hashed one cannot
      // say which scope it holds, so it is skipped.
      return readable;
    }
    if (state === null) return null; // deleted meanwhile
    const scope = state.header!.scope;
    if (
      readable === null &&
      (scopeToFileName(scope as Scope, LOG_FILE_SUFFIX) !== name || !matches(scope))
    ) {
      return null;
    }
    return hasLiveKey(state.keys, nowMs) ? scope : null;
  }

  /** The same for a format-1 file. */
  function scopeOfLegacy(
    name: string,
    matches: (s: string) => boolean,
    nowMs: number,
  ): string | null {
    const readable = fileNameToScope(name, LEGACY_FILE_SUFFIX);
    if (readable === null && !isHashedFileName(name, LEGACY_FILE_SUFFIX)) return null;
    if (readable !== null && !matches(readable)) return null;
    let parsed: LegacyScope | null;
    try {
      parsed = readLegacy(join(basePath, name), readable);
    } catch {
      return readable;
    }
    if (parsed === null) {
      // Converted since the directory was listed: the scope is in its log now.
      const log = name.slice(0, -LEGACY_FILE_SUFFIX.length) + LOG_FILE_SUFFIX;
      return scopeOfLog(log, matches, nowMs);
    }
    const scope = parsed.scope;
    if (readable === null && (scopeToFileName(scope) !== name || !matches(scope))) return null;
    return hasLiveKey(parsed.keys, nowMs) ? scope : null;
  }

  return {
    name: "local",

    async store(scope, key, value: JsonValue, options: StoreOptions = {}): Promise<StoreResult> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      // Copied out, so a caller changing its options object meanwhile changes nothing.
      const { ifVersion, ttlSeconds } = options;
      const updatedBy = options.updatedBy ?? null;
      checkIfVersion(ifVersion);
      expiryFromTtl(ttlSeconds, 0); // validates early, before taking any lock
      if (updatedBy !== null && typeof updatedBy !== "string") {
        throw invalidArgument("updated_by must be a string or null.");
      }
      // The text is what gets stored: later changes to the caller's object cannot leak in.
      const text = encodeValue(value, limits);
      return await mutate(s, (view, nowMs) => {
        const current = liveVersion(view, key, nowMs);
        if (ifVersion !== undefined && ifVersion !== current) {
          throw versionConflict(s, key, ifVersion, current);
        }
        const expiresMs = expiryFromTtl(ttlSeconds, nowMs);
        const record: LogRecord = {
          op: "set",
          key,
          text,
          value: undefined,
          version: (view?.seq ?? 0) + 1,
          updatedAt: new Date(nowMs).toISOString(),
          updatedBy,
          expiresAt: expiresMs === null ? null : new Date(expiresMs).toISOString(),
          expiresMs,
        };
        return {
          record,
          result: {
            version: record.version,
            updatedAt: record.updatedAt,
            expiresAt: record.expiresAt,
          },
        };
      });
    },

    async retrieve(scope, key): Promise<Entry | null> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      await eventLoopTurn();
      ensureOpen(); // closed meanwhile: the cache is gone
      const stored = readScope(s)?.get(key);
      return stored && isLive(stored, now()) ? toEntry(stored) : null;
    },

    async delete(scope, key, options: DeleteOptions = {}): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      const { ifVersion } = options;
      checkIfVersion(ifVersion);
      return await mutate(s, (view, nowMs) => {
        const current = liveVersion(view, key, nowMs);
        if (ifVersion !== undefined && ifVersion !== current) {
          throw versionConflict(s, key, ifVersion, current);
        }
        // Nothing live to delete: nothing to write (an expired key is purged at compaction).
        if (current === 0) return { record: null, result: false };
        const at = new Date(nowMs).toISOString();
        return { record: { op: "del", key, at }, result: true };
      });
    },

    async listKeys(scope): Promise<string[]> {
      ensureOpen();
      const s = validateScope(scope);
      await eventLoopTurn();
      ensureOpen(); // closed meanwhile: the cache is gone
      return liveKeys(s);
    },

    async listEntries(scope): Promise<ExportedKey[]> {
      ensureOpen();
      const s = validateScope(scope);
      await eventLoopTurn();
      ensureOpen(); // closed meanwhile: the cache is gone
      return liveEntries(s);
    },

    async listScopes(pattern?: string): Promise<string[]> {
      ensureOpen();
      const regex = pattern === undefined ? null : globToRegExp(pattern);
      const matches = (scope: string) => regex === null || regex.test(scope);
      const logs = new Set<string>();
      const legacies: string[] = [];
      try {
        for await (const entry of Deno.readDir(basePath)) {
          // Dot-files are temp files and the lock directory; never scopes.
          if (entry.isDirectory || entry.name.startsWith(".")) continue;
          if (entry.name.endsWith(LOG_FILE_SUFFIX)) logs.add(entry.name);
          else if (entry.name.endsWith(LEGACY_FILE_SUFFIX)) legacies.push(entry.name);
        }
      } catch (err) {
        throw ioUnavailable(basePath, "list the state directory", err);
      }
      ensureOpen();
      const nowMs = now();
      const scopes = new Set<string>();
      // One log at a time, from the cache: only what was appended since is read.
      for (const name of logs) {
        const scope = scopeOfLog(name, matches, nowMs);
        if (scope !== null) scopes.add(scope);
      }
      for (const name of legacies) {
        // A scope with a log is the log's alone, even if its old file is still there.
        if (logs.has(name.slice(0, -LEGACY_FILE_SUFFIX.length) + LOG_FILE_SUFFIX)) continue;
        const scope = scopeOfLegacy(name, matches, nowMs);
        if (scope !== null) scopes.add(scope);
      }
      return [...scopes].sort(compareStrings);
    },

    async restore(scope, key, entry: Entry): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      const restored = restoredRecord(entry, limits);
      return await mutate(s, (_view, nowMs) => {
        if (restored.expiresMs !== null && restored.expiresMs <= nowMs) {
          return { record: null, result: false };
        }
        // The log's seq follows the restored version, so later writes get versions above it.
        return { record: { ...restored, key }, result: true };
      });
    },

    async deleteScope(scope): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      const f = filesOf(s);
      return await mutex.run(f.log, () =>
        withFileLock(f.lockPath, async () => {
          const nowMs = now();
          const log = readLog(f.logPath, f.log, s);
          if (log !== null) {
            await dropConvertedFile(f, log);
            logs.forget(f.log);
            await removeFileDurably(basePath, f.log);
            return hasLiveKey(log.keys, nowMs);
          }
          const legacy = readLegacy(f.legacyPath, s);
          if (legacy === null) return false;
          await removeFileDurably(basePath, f.legacy);
          return hasLiveKey(legacy.keys, nowMs);
        }));
    },

    async close(): Promise<void> {
      closed = true;
      // Let running writes finish, so their lock handles are released and
      // no temp file is left half-written by our own shutdown.
      await mutex.idle();
      logs.clear();
    },
  };
}

/** Builds the local adapter from `storage.config`; see DEFAULT_BASE_PATH. */
export const fileAdapterFactory: AdapterFactory = (config, context) => {
  const parsed = FileConfigSchema.safeParse(config ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const unknown = issue.code === "unrecognized_keys" ? issue.keys : [];
    const path = unknown.length > 0 ? unknown[0] : issue.path.map(String).join(".");
    const field = path === "" ? "storage.config" : `storage.config.${path}`;
    const what = unknown.length > 0
      ? `unknown field (the local adapter accepts only base_path).`
      : path === ""
      ? "must be an object."
      : issue.message;
    return Promise.reject(
      new CoordinatorError("CONFIG_INVALID", `${field}: ${what}`, {
        field,
        issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
      }),
    );
  }
  const basePath = resolve(context.projectRoot, parsed.data.base_path);
  return createFileAdapter({ basePath, limits: context.limits });
};

const FileConfigSchema = z.strictObject({
  base_path: z
    .string({ error: "must be a string (a directory path)." })
    .min(1, { error: "must not be empty." })
    .refine((p) => !p.includes("\0"), { error: "must not contain a NUL character." })
    .default(DEFAULT_BASE_PATH),
});

function isLive(stored: StoredKey, nowMs: number): boolean {
  return stored.expiresMs === null || stored.expiresMs > nowMs;
}

function hasLiveKey(keys: Map<string, StoredKey>, nowMs: number): boolean {
  for (const stored of keys.values()) if (isLive(stored, nowMs)) return true;
  return false;
}

/** The key's version, or 0 when it is absent or expired (what `ifVersion` compares with). */
function liveVersion(view: ScopeView | null, key: string, nowMs: number): number {
  const stored = view?.keys.get(key);
  return stored !== undefined && isLive(stored, nowMs) ? stored.version : 0;
}

/** Whether the event loop ran since `armedAt` (a zero timer set then has fired). */
let loopTurned = true;
let armedAt = 0;

/**
 * Reads are answered from the cache with a few synchronous calls, so a read
 * completes without the event loop running: a loop of nothing but reads
 * (polling a key, say) would starve timers and I/O. Each read arms a zero
 * timer that notes the next turn of the loop, and waits for one when none
 * came for MAX_SYNC_MS. A read costs no extra turn otherwise.
 */
async function eventLoopTurn(): Promise<void> {
  const t = performance.now();
  if (loopTurned) {
    loopTurned = false;
    armedAt = t;
    setTimeout(() => {
      loopTurned = true;
    }, 0);
  } else if (t - armedAt >= MAX_SYNC_MS) {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
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
function restoredRecord(entry: Entry, limits: AdapterLimits): LogRecord & { op: "set" } {
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

function toEntry(stored: StoredKey): Entry {
  return {
    value: valueOf(stored),
    version: stored.version,
    updatedAt: stored.updatedAt,
    updatedBy: stored.updatedBy,
    expiresAt: stored.expiresAt,
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
