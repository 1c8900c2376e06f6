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
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { CoordinatorError, invalidArgument } from "../../core/errors.ts";
import type { JsonValue } from "../../core/json.ts";
import { validateKey, validateScope } from "../../core/scope.ts";
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
import { checkIfVersion, encodeValue, expiryFromTtl, versionConflict } from "../values.ts";
import { ioUnavailable, sweepStaleTempFiles } from "./_io.ts";
import type { LogRecord } from "./_log.ts";
import { createContext } from "./_context.ts";
import { isLive, liveEntries, liveKeys, liveVersion, readScope, toEntry } from "./_read.ts";
import { deleteScopeFiles, mutate, restoredRecord } from "./_write.ts";
import { listScopes } from "./_list.ts";
import { eventLoopTurn } from "./_yield.ts";

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
  const ctx = createContext(basePath, limits, now);
  try {
    await Deno.mkdir(ctx.lockDir, { recursive: true });
  } catch (err) {
    throw ioUnavailable(basePath, "create the state directory", err);
  }
  await sweepStaleTempFiles(basePath, ctx.lockPathOf);
  const { ensureOpen } = ctx;

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
      return await mutate(ctx, s, (view, nowMs) => {
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
      const stored = readScope(ctx, s)?.get(key);
      return stored && isLive(stored, now()) ? toEntry(stored) : null;
    },

    async delete(scope, key, options: DeleteOptions = {}): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      const { ifVersion } = options;
      checkIfVersion(ifVersion);
      return await mutate(ctx, s, (view, nowMs) => {
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
      return liveKeys(ctx, s);
    },

    async listEntries(scope): Promise<ExportedKey[]> {
      ensureOpen();
      const s = validateScope(scope);
      await eventLoopTurn();
      ensureOpen(); // closed meanwhile: the cache is gone
      return liveEntries(ctx, s);
    },

    listScopes(pattern?: string): Promise<string[]> {
      return listScopes(ctx, pattern);
    },

    async restore(scope, key, entry: Entry): Promise<boolean> {
      ensureOpen();
      const s = validateScope(scope);
      validateKey(key);
      const restored = restoredRecord(entry, limits);
      return await mutate(ctx, s, (_view, nowMs) => {
        if (restored.expiresMs !== null && restored.expiresMs <= nowMs) {
          return { record: null, result: false };
        }
        // The log's seq follows the restored version, so later writes get versions above it.
        return { record: { ...restored, key }, result: true };
      });
    },

    async deleteScope(scope): Promise<boolean> {
      ensureOpen();
      return await deleteScopeFiles(ctx, validateScope(scope));
    },

    async close(): Promise<void> {
      ctx.close();
      // Let running writes finish, so their lock handles are released and
      // no temp file is left half-written by our own shutdown.
      await ctx.mutex.idle();
      ctx.logs.clear();
    },
  } as StorageAdapter;
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
