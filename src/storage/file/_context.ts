/**
 * What every part of one local file adapter shares: its state directory,
 * limits and clock, the cache of replayed logs, the in-process mutex, and
 * the names and paths that belong to each scope.
 */
import { join } from "node:path";
import { CoordinatorError } from "../../core/errors.ts";
import type { Scope } from "../../core/scope.ts";
import type { AdapterLimits } from "../contract.ts";
import { createKeyedMutex, type KeyedMutex } from "./_io.ts";
import { createLogCache, type LogCache } from "./_cache.ts";
import { createLockCache, type LockCache } from "./_lock_cache.ts";
import type { LogState } from "./_log.ts";
import { isHashedFileName, LEGACY_FILE_SUFFIX, LOG_FILE_SUFFIX, scopeToFileName } from "./names.ts";

/** Where the per-scope lock files live, inside the state directory. */
export const LOCK_DIR = ".locks";
/** How many scopes a process keeps cached (least recently used go first)... */
export const CACHED_SCOPES = 512;
/** ...and for how many of them it keeps the log open (see _cache.ts). */
export const PINNED_SCOPES = 64;
/** How many lock files it keeps open for exclusive locks, and as many for shared ones (_lock_cache.ts). */
export const KEPT_LOCKS = 16;
/** The most files one adapter keeps open between calls. */
export const MAX_KEPT_FILES: number = PINNED_SCOPES + 2 * KEPT_LOCKS;

/** The names and paths that belong to one scope. */
export interface ScopeFiles {
  scope: Scope;
  /** The log's file name (format 2), the mutex and cache key. */
  log: string;
  logPath: string;
  /** The format-1 file name. */
  legacy: string;
  legacyPath: string;
  /** The lock file: named after the format-1 name, as before, so old and new code exclude each other. */
  lockPath: string;
}

/** One adapter's shared state; see the module comment. */
export interface FileContext {
  basePath: string;
  lockDir: string;
  limits: AdapterLimits;
  now: () => number;
  mutex: KeyedMutex;
  logs: LogCache;
  /** Lock files kept open. */
  locks: LockCache;
  /** Replays whose scope was checked for a format-1 file left beside the log. */
  checked: WeakSet<LogState>;
  /** The files of a scope. */
  files(scope: Scope): ScopeFiles;
  /** The scope of a hashed file name this adapter used lately; undefined when unknown. */
  scopeOfHashedName(name: string): Scope | undefined;
  /** The lock file guarding a state file name (a log's is named after the format-1 name). */
  lockPathOf(target: string): string;
  /** Throws STORAGE_UNAVAILABLE once the adapter is closed. */
  ensureOpen(): void;
  /** Marks the adapter closed. */
  close(): void;
}

/** Creates the shared state of an adapter over `basePath` (absolute, resolved). */
export function createContext(
  basePath: string,
  limits: AdapterLimits,
  now: () => number,
): FileContext {
  const lockDir = join(basePath, LOCK_DIR);
  let closed = false;
  /** Names of recently used scopes: encoding them is most of a read's own work. */
  const names = new Map<string, ScopeFiles>();
  /** The same backwards, for hashed names (the change feed maps names to scopes). */
  const hashed = new Map<string, Scope>();

  // A temp file of a log ("x.jsonl") is guarded by the scope's lock ("x.json.lock").
  const lockPathOf = (target: string) =>
    join(lockDir, target.replace(/\.jsonl$/, LEGACY_FILE_SUFFIX) + ".lock");

  return {
    basePath,
    lockDir,
    limits,
    now,
    mutex: createKeyedMutex(),
    logs: createLogCache(CACHED_SCOPES, PINNED_SCOPES),
    locks: createLockCache(KEPT_LOCKS),
    checked: new WeakSet(),
    lockPathOf,
    files(scope: Scope): ScopeFiles {
      const known = names.get(scope);
      if (known !== undefined) return known;
      const log = scopeToFileName(scope, LOG_FILE_SUFFIX);
      const legacy = scopeToFileName(scope, LEGACY_FILE_SUFFIX);
      const files = {
        scope,
        log,
        logPath: join(basePath, log),
        legacy,
        legacyPath: join(basePath, legacy),
        lockPath: lockPathOf(legacy),
      };
      if (names.size >= CACHED_SCOPES) names.clear();
      names.set(scope, files);
      if (isHashedFileName(log, LOG_FILE_SUFFIX)) {
        if (hashed.size >= 2 * CACHED_SCOPES) hashed.clear();
        hashed.set(log, scope);
        hashed.set(legacy, scope);
      }
      return files;
    },
    scopeOfHashedName(name: string): Scope | undefined {
      return hashed.get(name);
    },
    ensureOpen(): void {
      if (closed) {
        throw new CoordinatorError("STORAGE_UNAVAILABLE", "adapter is closed.", {
          adapter: "local",
        });
      }
    },
    close(): void {
      closed = true;
    },
  };
}
