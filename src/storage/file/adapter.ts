/**
 * The local file adapter ("local"), the embedded default: one append-only
 * JSON Lines log per scope directly inside a state directory, shared safely
 * by several processes on one machine.
 *
 * The state directory:
 *   <encoded scope>.jsonl       a scope's log (format 2, see _log.ts)
 *   <encoded scope>.json        a scope file of format 1 (see _v1.ts),
 *                               read as it is, converted on its first write
 *   .locks/<encoded scope>.json.lock   the scope's OS lock file (_lock.ts)
 *   .<name>.<pid>.<hex>.tmp     a file being written whole (swept when stale)
 * Names encode the scope reversibly (names.ts); long scopes get a hashed name.
 * State files must be regular files, not symlinks, and at most 1 GiB
 * (_safe_file.ts): the directory may come from a cloned repository.
 *
 * A write (store, delete, restore, writeBatch) takes the scope's in-process
 * mutex, then its OS locks (and a shared lock on its guard's scope); brings
 * the process's cached replay of the log up to date by reading only what
 * other processes appended since (_cache.ts); checks the guard and every
 * `ifVersion`; cuts off a torn last line a crashed writer left; appends one
 * line with one write; releases the locks; and returns once one fdatasync
 * has made the line durable (_write.ts). `seq`, the scope's version counter,
 * is the largest version the log has handed out, seeded from the clock when
 * the log is made; each write gets ++seq, so versions never repeat, not even
 * after a delete and re-create, a deleteScope (which keeps the counter,
 * _delete_scope.ts) or the state directory being deleted. When the log has
 * grown well past what its live keys need, the writer replaces it by a
 * snapshot (temp file, fsync, rename, directory fsync), dropping expired keys.
 *
 * Reads take no lock: they refresh the cache the same way, and only ever
 * apply complete lines, so a half-written append is never seen (_read.ts).
 * watch() reports changes from every process sharing the directory (_watch.ts).
 *
 * A scope still in a format-1 file is read from it; its first write converts
 * it (the log is written whole, then the old file removed). If both exist,
 * the log is the scope; see dropConvertedFile for the old file's fate.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { CoordinatorError } from "../../core/errors.ts";
import type { JsonValue } from "../../core/json.ts";
import { validateKey, validateScope } from "../../core/scope.ts";
import type {
  AdapterLimits,
  BatchOp,
  BatchOptions,
  BatchResult,
  Change,
  DeleteOptions,
  DeleteScopeOptions,
  Entry,
  ExportedKey,
  ListOptions,
  StorageAdapter,
  StoreOptions,
  StoreResult,
} from "../contract.ts";
import type { AdapterFactory } from "../registry.ts";
import {
  checkBatch,
  checkGuard,
  checkHeldBy,
  checkIfVersion,
  checkListOptions,
  checkUpdatedBy,
  encodeValue,
  expiryFromTtl,
  versionConflict,
} from "../values.ts";
import { ioUnavailable } from "./_errors.ts";
import { sweepStaleTempFiles } from "./_io.ts";
import type { DelRecord, SetRecord } from "./_log.ts";
import { createContext } from "./_context.ts";
import { isLive, liveKeys, liveVersion, readScope, type ScopeView, toEntry } from "./_read.ts";
import { mutate, restoredRecord } from "./_write.ts";
import { deleteScope } from "./_delete_scope.ts";
import { isStateFileName, listScopes, scopeOfFileName } from "./_list.ts";
import { createEventLoopTurn } from "./_yield.ts";
import { createChangeFeed } from "./_watch.ts";
import { compactAll, type CompactReport } from "./_compact.ts";

export type { CompactedLog, CompactReport } from "./_compact.ts";

/** Options of createFileAdapter. */
export interface FileAdapterOptions {
  /** Absolute path of the state directory; created when missing (unless `probeOnly`). */
  basePath: string;
  limits: AdapterLimits;
  /** Clock in epoch milliseconds, for expiry, times and version seeds; Date.now by default. */
  now?: () => number;
  /**
   * Open only to look (--validate-config): create no directory now; the
   * first write would still make it.
   */
  probeOnly?: boolean;
}

/** The state directory used when the config names none, relative to the project root. */
export const DEFAULT_BASE_PATH = ".claude/session-state";

/**
 * The local adapter: the storage contract, plus what the admin commands
 * need of it and no other adapter has (these are not part of the contract).
 */
export interface FileAdapter extends StorageAdapter {
  /** The absolute state directory. */
  readonly basePath: string;
  /**
   * Compacts every log of the state directory now (the `compact` command),
   * each under its scope's locks, so servers may keep running.
   */
  compactAll(): Promise<CompactReport>;
}

/** True when `storage` is the local file adapter (its state directory, compaction). */
export function isFileAdapter(storage: StorageAdapter): storage is FileAdapter {
  return storage.name === "local" && "compactAll" in storage && "basePath" in storage;
}

/**
 * Creates the local file adapter over an absolute state directory (needs
 * read and write permission there).
 *
 * @example
 * ```ts
 * const dir = await Deno.makeTempDir();
 * const adapter = await createFileAdapter({
 *   basePath: dir,
 *   limits: { maxValueBytes: 1024 * 1024 },
 * });
 * const { version } = await adapter.store("proj:notes", "design", "use a lock");
 * await adapter.store("proj:notes", "design", "use two", { ifVersion: version });
 * await adapter.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function createFileAdapter(options: FileAdapterOptions): Promise<FileAdapter> {
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
  const ctx = createContext(basePath, limits, now);
  if (!options.probeOnly) {
    try {
      await Deno.mkdir(ctx.lockDir, { recursive: true });
    } catch (err) {
      throw ioUnavailable(basePath, "create the state directory", err);
    }
    await sweepStaleTempFiles(basePath, ctx.lockPathOf);
  }
  const { ensureOpen } = ctx;
  const eventLoopTurn = createEventLoopTurn();
  const feed = createChangeFeed({
    basePath,
    scopeOfName: (name) => scopeOfFileName(ctx, name),
    isStateFile: isStateFileName,
  });

  /** A read's preamble: let the event loop run now and then; the adapter may close meanwhile. */
  async function beforeRead(): Promise<void> {
    await eventLoopTurn();
    ensureOpen(); // closed meanwhile: the cache is gone
  }

  return {
    name: "local",
    now,
    basePath,

    compactAll(): Promise<CompactReport> {
      return compactAll(ctx);
    },

    async store(scope, key, value: JsonValue, options: StoreOptions = {}): Promise<StoreResult> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      // Copied out, so a caller changing its options object meanwhile changes nothing.
      const { ifVersion, ttlSeconds } = options;
      checkIfVersion(ifVersion);
      expiryFromTtl(ttlSeconds, 0); // validates early, before taking any lock
      const updatedBy = checkUpdatedBy(options.updatedBy);
      const heldBy = checkHeldBy(options.heldBy);
      const guard = copyGuard(options.guard);
      // The text is what gets stored: later changes to the caller's object cannot leak in.
      const text = encodeValue(value, limits);
      const result = await mutate(ctx, {
        scope: s,
        guard,
        guardKey: key,
        decide: (view, nowMs) => {
          const current = liveVersion(view, key, nowMs);
          if (ifVersion !== undefined && ifVersion !== current) {
            throw versionConflict(s, key, ifVersion, current);
          }
          const record = setRecord(key, text, view.seq + 1, nowMs, ttlSeconds, updatedBy, heldBy);
          return { writes: [record], result: storeResult(record) };
        },
      });
      feed.changed(s);
      return result;
    },

    async retrieve(scope, key): Promise<Entry | null> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      await beforeRead();
      const stored = readScope(ctx, s)?.get(key);
      return stored && isLive(stored, now()) ? toEntry(stored) : null;
    },

    async delete(scope, key, options: DeleteOptions = {}): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      const { ifVersion } = options;
      checkIfVersion(ifVersion);
      const guard = copyGuard(options.guard);
      const deleted = await mutate(ctx, {
        scope: s,
        guard,
        guardKey: key,
        decide: (view, nowMs) => {
          const current = liveVersion(view, key, nowMs);
          if (ifVersion !== undefined && ifVersion !== current) {
            throw versionConflict(s, key, ifVersion, current);
          }
          // Nothing live to delete: nothing to write (an expired key is purged at compaction).
          if (current === 0) return { writes: [], result: false };
          const at = new Date(nowMs).toISOString();
          return { writes: [{ op: "del", key, at }], result: true };
        },
      });
      if (deleted) feed.changed(s);
      return deleted;
    },

    async writeBatch(scope, ops: BatchOp[], options: BatchOptions = {}): Promise<BatchResult[]> {
      ensureOpen();
      const s = validateScope(scope);
      const checked = checkBatch(ops, limits);
      const updatedBy = checkUpdatedBy(options.updatedBy);
      const guard = copyGuard(options.guard);
      if (checked.length === 0 && guard === undefined) return [];
      const { results, wrote } = await mutate(ctx, {
        scope: s,
        guard,
        guardKey: checked.length === 1 ? checked[0].key : null,
        decide: (view, nowMs) => decideBatch(s, checked, updatedBy, view, nowMs),
      });
      if (wrote) feed.changed(s);
      return results;
    },

    async listKeys(scope, options?: ListOptions): Promise<string[]> {
      ensureOpen();
      const s = validateScope(scope);
      const { prefix, limit } = checkListOptions(options);
      await beforeRead();
      return liveKeys(ctx, s, prefix, limit).map(([key]) => key);
    },

    async listEntries(scope, options?: ListOptions): Promise<ExportedKey[]> {
      ensureOpen();
      const s = validateScope(scope);
      const { prefix, limit } = checkListOptions(options);
      await beforeRead();
      return liveKeys(ctx, s, prefix, limit).map(([key, stored]) => ({
        key,
        entry: toEntry(stored),
      }));
    },

    listScopes(pattern?: string): Promise<string[]> {
      return listScopes(ctx, pattern);
    },

    async restore(scope, key, entry: Entry): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      const record = restoredRecord(validateKey(key), entry, limits);
      const restored = await mutate(ctx, {
        scope: s,
        guard: undefined,
        guardKey: key,
        decide: (_view, nowMs) => {
          if (record.expiresMs !== null && record.expiresMs <= nowMs) {
            return { writes: [], result: false };
          }
          // The log's seq follows the restored version, so later writes get versions above it.
          return { writes: [record], result: true };
        },
      });
      if (restored) feed.changed(s);
      return restored;
    },

    async deleteScope(scope, options: DeleteScopeOptions = {}): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      const guard = copyGuard(options.guard);
      const deleted = await deleteScope(ctx, s, guard);
      if (deleted) feed.changed(s);
      return deleted;
    },

    watch(listener: (change: Change) => void): () => void {
      return feed.watch(listener);
    },

    async close(): Promise<void> {
      ctx.close();
      await feed.close();
      // Let running writes finish, so their lock handles are released and
      // no temp file is left half-written by our own shutdown.
      await ctx.mutex.idle();
      ctx.logs.clear();
      ctx.locks.clear();
    },
  };
}

/** A validated copy of a guard (the caller may change its object while the write waits). */
function copyGuard(guard: StoreOptions["guard"]): StoreOptions["guard"] {
  const checked = checkGuard(guard);
  return checked && { ...checked };
}

/** A `set` record written now. */
function setRecord(
  key: string,
  text: string,
  version: number,
  nowMs: number,
  ttlSeconds: number | undefined,
  updatedBy: string | null,
  heldBy: string | null,
): SetRecord {
  const expiresMs = expiryFromTtl(ttlSeconds, nowMs);
  return {
    op: "set",
    key,
    text,
    value: undefined,
    version,
    updatedAt: new Date(nowMs).toISOString(),
    updatedBy,
    expiresAt: expiresMs === null ? null : new Date(expiresMs).toISOString(),
    expiresMs,
    heldBy,
  };
}

function storeResult(record: SetRecord): StoreResult {
  return { version: record.version, updatedAt: record.updatedAt, expiresAt: record.expiresAt };
}

/**
 * A batch's writes and results: every condition (of sets, deletes and
 * checks) is checked before any write is made.
 */
function decideBatch(
  scope: string,
  ops: ReturnType<typeof checkBatch>,
  updatedBy: string | null,
  view: ScopeView,
  nowMs: number,
) {
  for (const op of ops) {
    const current = liveVersion(view, op.key, nowMs);
    if (op.ifVersion !== undefined && op.ifVersion !== current) {
      throw versionConflict(scope, op.key, op.ifVersion, current);
    }
  }
  let seq = view.seq;
  const writes: (SetRecord | DelRecord)[] = [];
  const results = ops.map((op): BatchResult => {
    if (op.op === "check") return { op: "check" }; // checked above; writes nothing
    if (op.op === "delete") {
      const deleted = liveVersion(view, op.key, nowMs) !== 0;
      if (deleted) writes.push({ op: "del", key: op.key, at: new Date(nowMs).toISOString() });
      return { op: "delete", deleted };
    }
    const record = setRecord(op.key, op.text, ++seq, nowMs, op.ttlSeconds, updatedBy, op.heldBy);
    writes.push(record);
    return { op: "set", ...storeResult(record) };
  });
  return { writes, result: { results, wrote: writes.length > 0 } };
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
  return createFileAdapter({ basePath, limits: context.limits, probeOnly: context.probeOnly });
};

const FileConfigSchema = z.strictObject({
  base_path: z
    .string({ error: "must be a string (a directory path)." })
    .min(1, { error: "must not be empty." })
    .refine((p) => !p.includes("\0"), { error: "must not contain a NUL character." })
    .default(DEFAULT_BASE_PATH),
});
