/**
 * The storage contract every adapter implements. Adapters know scopes, keys
 * and JSON values; they know nothing of sessions or MCP.
 *
 * Semantics every adapter must honour (src/storage/testing/contract_suite.ts checks them):
 * - Scope and key names are validated (scope.ts); bad names throw INVALID_ARGUMENT.
 * - Every write gives the key a new version, an integer greater than any
 *   version the scope has handed out before, so a deleted and re-created key
 *   never reuses an old version (no ABA on compare-and-set). Versions restart
 *   only after delete_scope.
 * - `ifVersion` makes store and delete conditional: 0 means "only if the key
 *   is absent", n > 0 means "only if the current version is n". A mismatch
 *   throws VERSION_CONFLICT with `details.current_version` (0 when absent).
 * - `ttlSeconds` gives a key an expiry; an expired key is invisible to every
 *   read and listing (and counts as absent for `ifVersion`), and is purged
 *   lazily. A write without `ttlSeconds` clears any earlier expiry.
 * - A scope exists while it holds at least one live key.
 * - Values larger than the configured limit (bytes of their JSON text) throw
 *   VALUE_TOO_LARGE; unreadable state throws CORRUPT_STATE naming the place;
 *   an unreachable backend throws STORAGE_UNAVAILABLE.
 */
import type { JsonValue } from "../core/json.ts";

/** A stored value with its bookkeeping. */
export interface Entry {
  value: JsonValue;
  version: number;
  /** ISO-8601 time of the last write. */
  updatedAt: string;
  /** The writer's session id, when the writer said. */
  updatedBy: string | null;
  /** ISO-8601 expiry time, or null when the key never expires. */
  expiresAt: string | null;
}

/** Options for a write. */
export interface StoreOptions {
  /** 0: only if absent; n > 0: only if the current version is n. */
  ifVersion?: number;
  /** Seconds until the key expires; omit for no expiry. */
  ttlSeconds?: number;
  /** The writer's session id, recorded as updatedBy. */
  updatedBy?: string | null;
}

/** What a successful write reports. */
export interface StoreResult {
  version: number;
  updatedAt: string;
  expiresAt: string | null;
}

/** Options for a delete. */
export interface DeleteOptions {
  /** Only delete if the current version is this (0: only if absent, which deletes nothing). */
  ifVersion?: number;
}

/** An exported key, for migration and backup. */
export interface ExportedKey {
  key: string;
  entry: Entry;
}

/** The async interface of every storage backend. */
export interface StorageAdapter {
  /** The registry name of this adapter, e.g. "local". */
  readonly name: string;
  /** Writes a value; see StoreOptions for conditional writes and expiry. */
  store(scope: string, key: string, value: JsonValue, options?: StoreOptions): Promise<StoreResult>;
  /** Reads a key; null when absent or expired. */
  retrieve(scope: string, key: string): Promise<Entry | null>;
  /** Deletes a key; true when a live key was deleted. */
  delete(scope: string, key: string, options?: DeleteOptions): Promise<boolean>;
  /** Live keys of a scope, sorted. */
  listKeys(scope: string): Promise<string[]>;
  /** Every live key of a scope with its entry, sorted by key. */
  listEntries(scope: string): Promise<ExportedKey[]>;
  /** Scopes with at least one live key, sorted, filtered by an fnmatch glob. */
  listScopes(pattern?: string): Promise<string[]>;
  /**
   * Writes an entry exactly as exported (value, version, times, writer,
   * expiry), for migration and backup; later writes get versions above it.
   * An entry already expired is skipped: returns false.
   */
  restore(scope: string, key: string, entry: Entry): Promise<boolean>;
  /** Deletes a whole scope; true when it held a live key. */
  deleteScope(scope: string): Promise<boolean>;
  /** Releases connections and handles. Further calls may fail. */
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
  limits: AdapterLimits;
  /** Where an adapter reports what the user should know (outages, recovery); stderr in the server. */
  log?: (line: string) => void;
}

/** The default value size limit: 1 MiB. */
export const DEFAULT_MAX_VALUE_BYTES = 1024 * 1024;
