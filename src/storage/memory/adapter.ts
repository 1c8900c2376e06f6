/**
 * The in-memory adapter ("memory"): the whole contract in one process, with
 * no I/O. It serves fast domain tests, a throwaway server (`"adapter":
 * "memory"`: nothing survives the process), and as the model for third-party
 * adapters: each rule of the contract is a few plain lines here.
 *
 * A backend holds the data; any number of handles (adapters) can be opened on
 * one backend and see each other's writes and changes, as processes sharing a
 * state directory or a Redis server do. `wipe()` empties a backend the way a
 * restarted Redis without persistence comes back empty.
 *
 * @module
 */
import { CoordinatorError } from "../../core/errors.ts";
import type { JsonValue } from "../../core/json.ts";
import { globToRegExp, validateKey, validateScope } from "../../core/scope.ts";
import {
  type AdapterLimits,
  type BatchResult,
  type Change,
  type DeleteScopeOptions,
  type Entry,
  type ExportedKey,
  type Guard,
  type ListOptions,
  type StorageAdapter,
  versionSeed,
} from "../contract.ts";
import type { AdapterFactory } from "../registry.ts";
import { batchWrites } from "../batch_writes.ts";
import {
  type CheckedOp,
  checkGuard,
  checkListOptions,
  checkRestoredEntry,
  compareStrings,
  expiryFromTtl,
  guardFailed,
  guardHolds,
  versionConflict,
} from "../values.ts";

/** One stored key. The value is kept as JSON text, so every read is a private copy. */
interface Stored {
  text: string;
  version: number;
  updatedAt: string;
  updatedBy: string | null;
  expiresMs: number | null;
  heldBy: string | null;
}

interface ScopeData {
  keys: Map<string, Stored>;
  /** The largest version handed out. */
  seq: number;
}

/** Data shared by every handle opened on it. */
export interface MemoryBackend {
  /** Opens a handle; `limits` as a factory would get them. */
  open(limits?: AdapterLimits): StorageAdapter;
  /** Forgets everything, as a backend restarted without persistence. */
  wipe(): void;
}

/** Options of createMemoryBackend. */
export interface MemoryBackendOptions {
  /** The clock in epoch ms, for expiry and times; Date.now by default. */
  now?: () => number;
}

/** Creates an empty backend. */
export function createMemoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
  const now = options.now ?? Date.now;
  let scopes = new Map<string, ScopeData>();
  const listeners = new Set<(change: Change) => void>();

  function isLive(stored: Stored | undefined, nowMs: number): stored is Stored {
    return stored !== undefined && (stored.expiresMs === null || stored.expiresMs > nowMs);
  }

  function liveVersion(scope: string, key: string, nowMs: number): number {
    const stored = scopes.get(scope)?.keys.get(key);
    return isLive(stored, nowMs) ? stored.version : 0;
  }

  function checkGuardNow(guard: Guard | undefined, scope: string, key: string | null, t: number) {
    if (guard === undefined) return;
    const stored = scopes.get(guard.scope)?.keys.get(guard.key);
    const value = isLive(stored, t) ? JSON.parse(stored.text) as JsonValue : undefined;
    if (!guardHolds(guard, value)) throw guardFailed(guard, scope, key);
  }

  function scopeData(scope: string, nowMs: number): ScopeData {
    let data = scopes.get(scope);
    if (data === undefined) {
      data = { keys: new Map(), seq: versionSeed(nowMs) };
      scopes.set(scope, data);
    }
    return data;
  }

  function notify(scope: string): void {
    // Asynchronously, like every real feed: a listener never runs inside a write.
    queueMicrotask(() => {
      for (const listener of listeners) listener({ scopes: [scope] });
    });
  }

  /** Checks every condition, then applies every op: the one atomic step of a batch. */
  function applyBatch(
    scope: string,
    ops: CheckedOp[],
    updatedBy: string | null,
    guard: Guard | undefined,
  ): BatchResult[] {
    const t = now();
    checkGuardNow(guard, scope, ops.length === 1 ? ops[0].key : null, t);
    for (const op of ops) {
      const current = liveVersion(scope, op.key, t);
      if (op.ifVersion !== undefined && op.ifVersion !== current) {
        throw versionConflict(scope, op.key, op.ifVersion, current);
      }
    }
    const at = new Date(t).toISOString();
    const results = ops.map((op): BatchResult => {
      if (op.op === "check") return { op: "check" };
      if (op.op === "delete") {
        const data = scopes.get(scope);
        const deleted = liveVersion(scope, op.key, t) !== 0;
        data?.keys.delete(op.key);
        return { op: "delete", deleted };
      }
      const data = scopeData(scope, t);
      const version = ++data.seq;
      const expiresMs = expiryFromTtl(op.ttlSeconds, t);
      data.keys.set(op.key, {
        text: op.text,
        version,
        updatedAt: at,
        updatedBy,
        expiresMs,
        heldBy: op.heldBy,
      });
      return {
        op: "set",
        version,
        updatedAt: at,
        expiresAt: expiresMs === null ? null : new Date(expiresMs).toISOString(),
      };
    });
    if (results.some((r) => r.op === "set" || (r.op === "delete" && r.deleted))) notify(scope);
    return results;
  }

  function liveEntries(scope: string, options: ListOptions | undefined): [string, Stored][] {
    const { prefix, limit } = checkListOptions(options);
    const t = now();
    const out: [string, Stored][] = [];
    for (const [key, stored] of scopes.get(scope)?.keys ?? []) {
      if (key.startsWith(prefix) && isLive(stored, t)) out.push([key, stored]);
    }
    return out.sort((a, b) => compareStrings(a[0], b[0])).slice(0, limit);
  }

  function toEntry(stored: Stored): Entry {
    return {
      value: JSON.parse(stored.text),
      version: stored.version,
      updatedAt: stored.updatedAt,
      updatedBy: stored.updatedBy,
      expiresAt: stored.expiresMs === null ? null : new Date(stored.expiresMs).toISOString(),
      heldBy: stored.heldBy,
    };
  }

  function open(limits: AdapterLimits = { maxValueBytes: 1024 * 1024 }): StorageAdapter {
    let closed = false;
    const own = new Set<(change: Change) => void>();
    /** Every call starts here; like I/O, its work happens after the caller's synchronous code. */
    async function ready(): Promise<void> {
      if (closed) {
        throw new CoordinatorError("STORAGE_UNAVAILABLE", "adapter is closed.", {
          adapter: "memory",
        });
      }
      await Promise.resolve();
    }
    return {
      name: "memory",
      now,

      ...batchWrites(limits, async (s, ops, updatedBy, guard) => {
        await ready();
        return applyBatch(s, ops, updatedBy, guard);
      }),

      async retrieve(scope, key): Promise<Entry | null> {
        const s = validateScope(scope);
        validateKey(key);
        await ready();
        const stored = scopes.get(s)?.keys.get(key);
        return isLive(stored, now()) ? toEntry(stored) : null;
      },

      async listKeys(scope, options?: ListOptions): Promise<string[]> {
        const s = validateScope(scope);
        await ready();
        return liveEntries(s, options).map(([key]) => key);
      },

      async listEntries(scope, options?: ListOptions): Promise<ExportedKey[]> {
        const s = validateScope(scope);
        await ready();
        return liveEntries(s, options).map(([key, stored]) => ({ key, entry: toEntry(stored) }));
      },

      async listScopes(pattern?: string): Promise<string[]> {
        const regex = pattern === undefined ? null : globToRegExp(pattern);
        await ready();
        const t = now();
        const out: string[] = [];
        for (const [scope, data] of scopes) {
          if (regex !== null && !regex.test(scope)) continue;
          for (const stored of data.keys.values()) {
            if (isLive(stored, t)) {
              out.push(scope);
              break;
            }
          }
        }
        return out.sort(compareStrings);
      },

      async restore(scope, key, entry: Entry): Promise<boolean> {
        const s = validateScope(scope);
        validateKey(key);
        const { text, expiresMs, heldBy } = checkRestoredEntry(entry, limits);
        await ready();
        const t = now();
        if (expiresMs !== null && expiresMs <= t) return false;
        const data = scopeData(s, t);
        data.seq = Math.max(data.seq, entry.version);
        data.keys.set(key, {
          text,
          version: entry.version,
          updatedAt: entry.updatedAt,
          updatedBy: entry.updatedBy,
          expiresMs,
          heldBy,
        });
        notify(s);
        return true;
      },

      async deleteScope(scope, options: DeleteScopeOptions = {}): Promise<boolean> {
        const s = validateScope(scope);
        const guard = checkGuard(options.guard);
        await ready();
        const t = now();
        checkGuardNow(guard, s, null, t);
        const data = scopes.get(s);
        if (data === undefined) return false;
        const live = [...data.keys.values()].some((stored) => isLive(stored, t));
        // The counter stays: versions after a deleteScope still only grow.
        data.keys.clear();
        notify(s);
        return live;
      },

      watch(listener) {
        listeners.add(listener);
        own.add(listener);
        return () => {
          listeners.delete(listener);
          own.delete(listener);
        };
      },

      close(): Promise<void> {
        closed = true;
        for (const listener of own) listeners.delete(listener);
        own.clear();
        return Promise.resolve();
      },
    };
  }

  return {
    open,
    wipe() {
      scopes = new Map();
      queueMicrotask(() => {
        for (const listener of listeners) listener({ all: true });
      });
    },
  };
}

/** Builds the memory adapter: a fresh backend per server process (`storage.config` must be empty). */
export const memoryAdapterFactory: AdapterFactory = (config, context) => {
  if (Object.keys(config ?? {}).length > 0) {
    return Promise.reject(
      new CoordinatorError(
        "CONFIG_INVALID",
        `storage.config.${
          Object.keys(config)[0]
        }: unknown field (the memory adapter takes no settings).`,
        { field: `storage.config.${Object.keys(config)[0]}` },
      ),
    );
  }
  return Promise.resolve(createMemoryBackend().open(context.limits));
};
