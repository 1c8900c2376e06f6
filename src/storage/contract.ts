/**
 * The storage contract every adapter implements. Adapters know scopes, keys
 * and JSON values; they know nothing of sessions or MCP.
 *
 * Semantics every adapter must honour (src/storage/testing/contract_suite.ts
 * checks them, through this interface only):
 *
 * - Scope and key names are validated (core/scope.ts); bad names throw
 *   INVALID_ARGUMENT.
 * - Versions never repeat and never go backwards within a scope: every write
 *   gives the key a version greater than any the scope handed out before,
 *   also after a delete and re-create and after deleteScope (the counter
 *   outlives the scope's keys), and after the backend was wiped (a server
 *   restarted empty, a state directory deleted): a scope's counter that is
 *   missing is seeded from the adapter's clock (versionSeed), above anything
 *   handed out before the wipe. A version is
 *   thus a fencing token: a holder that kept an old version can always be
 *   refused (no ABA on compare-and-set).
 * - `ifVersion` makes a write conditional: 0 means "only if the key is
 *   absent", n > 0 means "only if the current version is n". A mismatch throws
 *   VERSION_CONFLICT with `details.current_version` (0 when absent).
 * - `guard` makes a write conditional on another key, checked in the same
 *   atomic step as the write: the guard key must be live and its value an
 *   object whose field `field` is the string `equals` (how a session proves it
 *   still holds its lease when it writes). A failed guard throws
 *   VERSION_CONFLICT with `details.guard` set (see isGuardFailure) and writes
 *   nothing.
 * - `ttlSeconds` gives a key an expiry; an expired key is invisible to every
 *   read and listing (and counts as absent for `ifVersion` and guards), and is
 *   purged lazily. A write without `ttlSeconds` clears any earlier expiry.
 *   Expiry is judged by the adapter's own clock (`now()`), which every process
 *   sharing the backend agrees on as far as the backend allows.
 * - `heldBy` is an opaque tag stored with the entry and returned as it was;
 *   the adapter gives it no meaning (the domain uses it for keys that live
 *   as long as their writer's session).
 * - writeBatch applies several writes to one scope atomically: every
 *   condition (including `check` steps, which write nothing) is checked
 *   first, and either all writes land or none.
 * - A scope exists while it holds at least one live key.
 * - watch reports which scopes changed, in this process and in every other
 *   process and machine sharing the backend, within about 100 ms; when the
 *   feed may have missed something (a reconnect, a watcher restarted) it
 *   reports `{ all: true }` instead of staying silent, and a new watch may
 *   begin with `{ all: true }` once the feed is live. A wipe done behind the
 *   backend's back without a restart (FLUSHALL by hand) may go unreported.
 * - Guard values are small JSON objects (a lease record); a value nested
 *   deeper than 1,000 levels may count as not holding.
 * - Values larger than the configured limit (bytes of their JSON text) throw
 *   VALUE_TOO_LARGE; unreadable state throws CORRUPT_STATE naming the place;
 *   an unreachable backend throws STORAGE_UNAVAILABLE.
 *
 * @module
 */
import type { JsonValue } from "../core/json.ts";

export type { JsonValue };

/** A stored value with its bookkeeping. */
export interface Entry {
  /** The stored JSON value (a private copy). */
  value: JsonValue;
  /** The version of the last write: greater than any before it in the scope. */
  version: number;
  /** ISO-8601 time of the last write. */
  updatedAt: string;
  /** The writer's session id, when the writer said. */
  updatedBy: string | null;
  /** ISO-8601 expiry time, or null when the key never expires. */
  expiresAt: string | null;
  /** The opaque holder tag of the last write (StoreOptions.heldBy); null for none. */
  heldBy: string | null;
}

/**
 * A condition on another key, checked in the same atomic step as the write it
 * guards: the key `key` of `scope` must be live, and its value a JSON object
 * whose top-level field `field` is the string `equals`.
 */
export interface Guard {
  /** The guard key's full scope. */
  scope: string;
  /** The guard key. */
  key: string;
  /** A top-level field of the guard key's JSON object value. */
  field: string;
  /** What that field must equal (a string). */
  equals: string;
}

/** Options for a write. */
export interface StoreOptions {
  /** 0: only if absent; n > 0: only if the current version is n. */
  ifVersion?: number;
  /** Seconds until the key expires; omit for no expiry. */
  ttlSeconds?: number;
  /** The writer's session id, recorded as updatedBy. */
  updatedBy?: string | null;
  /** An opaque holder tag recorded with the entry; null or omitted for none. */
  heldBy?: string | null;
  /** Write only if this guard holds at the moment of writing. */
  guard?: Guard;
}

/** What a successful write reports. */
export interface StoreResult {
  /** The version the write got. */
  version: number;
  /** ISO-8601 time of the write. */
  updatedAt: string;
  /** ISO-8601 expiry, or null when the key never expires. */
  expiresAt: string | null;
}

/** Options for a delete. */
export interface DeleteOptions {
  /** Only delete if the current version is this (0: only if absent, which deletes nothing). */
  ifVersion?: number;
  /** Delete only if this guard holds at the moment of deleting. */
  guard?: Guard;
}

/** Options for deleteScope. */
export interface DeleteScopeOptions {
  /** Delete only if this guard holds (the guard key may be in this scope or another). */
  guard?: Guard;
}

/** Options for listKeys and listEntries. */
export interface ListOptions {
  /** Only keys that start with this. */
  prefix?: string;
  /** At most this many keys (the first ones in sort order). */
  limit?: number;
}

/**
 * One step of a batch: a write, a delete, or a check that writes nothing
 * but makes the batch conditional on a key it read (its version must still
 * be `ifVersion`; 0: the key must be absent).
 */
export type BatchOp =
  | {
    op: "set";
    key: string;
    value: JsonValue;
    ifVersion?: number;
    ttlSeconds?: number;
    heldBy?: string | null;
  }
  | { op: "delete"; key: string; ifVersion?: number }
  | { op: "check"; key: string; ifVersion: number };

/** Options for writeBatch. */
export interface BatchOptions {
  /** Recorded as updatedBy on every key the batch sets. */
  updatedBy?: string | null;
  /** Apply the batch only if this guard holds. */
  guard?: Guard;
}

/** What each step of a batch did, in the order of the ops. */
export type BatchResult =
  | ({ op: "set" } & StoreResult)
  | { op: "delete"; deleted: boolean }
  | { op: "check" };

/** Most writes in one batch. */
export const MAX_BATCH_OPS = 500;

/** An exported key, for migration and backup. */
export interface ExportedKey {
  /** The key's name. */
  key: string;
  /** What is stored under it. */
  entry: Entry;
}

/** What the change feed reports: the full names of changed scopes, or that anything may have changed. */
export type Change = { scopes: string[] } | { all: true };

/** The async interface of every storage backend. */
export interface StorageAdapter {
  /** The registry name of this adapter, e.g. "local". */
  readonly name: string;
  /**
   * The clock (epoch ms) this adapter judges expiry by; sessions time their
   * leases by it, so every process sharing the backend agrees on them.
   */
  now(): number;
  /** Writes a value; see StoreOptions for conditional writes and expiry. */
  store(scope: string, key: string, value: JsonValue, options?: StoreOptions): Promise<StoreResult>;
  /** Reads a key; null when absent or expired. */
  retrieve(scope: string, key: string): Promise<Entry | null>;
  /** Deletes a key; true when a live key was deleted. */
  delete(scope: string, key: string, options?: DeleteOptions): Promise<boolean>;
  /** Applies several writes to one scope atomically (all or none); keys must be distinct. */
  writeBatch(scope: string, ops: BatchOp[], options?: BatchOptions): Promise<BatchResult[]>;
  /** Live keys of a scope, sorted. */
  listKeys(scope: string, options?: ListOptions): Promise<string[]>;
  /** Every live key of a scope with its entry, sorted by key. */
  listEntries(scope: string, options?: ListOptions): Promise<ExportedKey[]>;
  /** Scopes with at least one live key, sorted, filtered by an fnmatch glob. */
  listScopes(pattern?: string): Promise<string[]>;
  /**
   * Writes an entry exactly as exported (value, version, times, writer,
   * expiry, holder), for migration and backup; later writes get versions
   * above it. An entry already expired is skipped: returns false.
   */
  restore(scope: string, key: string, entry: Entry): Promise<boolean>;
  /** Deletes a whole scope; true when it held a live key. Versions still never go backwards. */
  deleteScope(scope: string, options?: DeleteScopeOptions): Promise<boolean>;
  /**
   * Calls `listener` with the scopes that changed (any process, any machine),
   * until the returned function is called. Never throws into the listener's
   * caller: a broken feed recovers by itself and then reports `{ all: true }`.
   */
  watch(listener: (change: Change) => void): () => void;
  /** Releases connections, handles and watchers. Further calls may fail. */
  close(): Promise<void>;
}

/** Limits shared by every adapter. */
export interface AdapterLimits {
  /** Largest value accepted, in bytes of its JSON text. */
  maxValueBytes: number;
}

/** What the registry hands to an adapter factory. */
export interface AdapterContext {
  /** Where relative paths resolve: the project root. */
  projectRoot: string;
  /** The limits every adapter enforces. */
  limits: AdapterLimits;
  /** Where an adapter reports what the user should know (outages, recovery); stderr in the server. */
  log?: (line: string) => void;
  /** The storage is opened only to be checked (--validate-config): write nothing. */
  probeOnly?: boolean;
}

/** The default value size limit: 1 MiB. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;

/**
 * The first version of a scope whose counter is missing (new, deleted or
 * wiped): the clock in milliseconds times 1000. Versions handed out before a
 * wipe stay below it unless the scope averaged over a thousand writes per
 * millisecond since its own seed, so they never repeat; and it stays below
 * 2^53 until the year 2255.
 */
export function versionSeed(nowMs: number): number {
  return Math.floor(nowMs) * 1000;
}
