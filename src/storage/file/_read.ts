/**
 * The read side of the local file adapter: a scope's keys from its log (via
 * the cache) or from its format-1 file, and what counts as live. Reads take
 * no lock: the cache only ever applies complete lines.
 */
import type { Scope } from "../../core/scope.ts";
import type { Entry } from "../contract.ts";
import type { FileContext } from "./_context.ts";
import { ioUnavailable } from "./_errors.ts";
import { readAtSync } from "./_io.ts";
import { compareStrings } from "../values.ts";
import { type LogState, sortedKeys, type StoredKey, valueOf } from "./_log.ts";
import { openStateFile } from "./_safe_file.ts";
import { type LegacyScope, parseLegacyFile } from "./_v1.ts";

/** What a write sees of a scope: its keys and version counter (null: no scope file). */
export interface ScopeView {
  keys: Map<string, StoredKey>;
  seq: number;
}

/** The up-to-date replay of a log, or null when there is no log. No lock: synchronous. */
export function readLog(
  ctx: FileContext,
  path: string,
  name: string,
  expected: Scope | null,
): LogState | null {
  const access = ctx.logs.acquire(path, name, expected);
  if (access === null) return null;
  ctx.logs.release(access.pin);
  return access.state;
}

/** The bytes of a format-1 file, or null when there is none; checked as _safe_file.ts says. */
export function readLegacyBytes(path: string): Uint8Array | null {
  const opened = openStateFile(path, false);
  if (opened === null) return null;
  try {
    // Only as many bytes as the checked size: a file still growing cannot make us read on.
    return readAtSync(opened.handle, 0, opened.info.size);
  } catch (err) {
    throw ioUnavailable(path, "read the state file", err);
  } finally {
    opened.handle.close();
  }
}

/** A parsed format-1 file, or null when there is none. */
export function readLegacy(path: string, expected: Scope | null): LegacyScope | null {
  const bytes = readLegacyBytes(path);
  return bytes === null ? null : parseLegacyFile(path, bytes, expected);
}

/** The keys of a scope: from its log, else from its format-1 file; null when neither exists. */
export function readScope(ctx: FileContext, scope: Scope): Map<string, StoredKey> | null {
  const f = ctx.files(scope);
  const log = readLog(ctx, f.logPath, f.log, scope);
  if (log !== null) return log.keys;
  const legacy = readLegacy(f.legacyPath, scope);
  if (legacy !== null) return legacy.keys;
  // Converted meanwhile? A conversion writes the log before it removes the
  // old file, so a log that was missing a moment ago may be there now.
  return readLog(ctx, f.logPath, f.log, scope)?.keys ?? null;
}

/**
 * The live keys of a scope that start with `prefix`, sorted, at most `limit`
 * of them, with what is stored for each. From a log, the names are already
 * sorted (sortedKeys): a binary search finds the prefix, so the cost is that
 * of the keys returned, not of the scope.
 */
export function liveKeys(
  ctx: FileContext,
  scope: Scope,
  prefix: string,
  limit: number,
): [string, StoredKey][] {
  if (limit === 0) return [];
  const f = ctx.files(scope);
  const log = readLog(ctx, f.logPath, f.log, scope);
  const keys = log?.keys ?? readScope(ctx, scope);
  if (keys === null) return [];
  const names = log !== null ? sortedKeys(log) : [...keys.keys()].sort(compareStrings);
  const nowMs = ctx.now();
  const out: [string, StoredKey][] = [];
  for (let i = lowerBound(names, prefix); i < names.length && out.length < limit; i++) {
    const name = names[i];
    if (!name.startsWith(prefix)) break;
    const stored = keys.get(name);
    if (stored !== undefined && isLive(stored, nowMs)) out.push([name, stored]);
  }
  return out;
}

/** The first index of `sorted` whose name is not below `name`. */
function lowerBound(sorted: string[], name: string): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareStrings(sorted[mid], name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True when a key has not expired at `nowMs`. */
export function isLive(stored: StoredKey, nowMs: number): boolean {
  return stored.expiresMs === null || stored.expiresMs > nowMs;
}

/** True when some key of `keys` is live at `nowMs`. */
export function hasLiveKey(keys: Map<string, StoredKey>, nowMs: number): boolean {
  for (const stored of keys.values()) if (isLive(stored, nowMs)) return true;
  return false;
}

/** The key's version, or 0 when it is absent or expired (what `ifVersion` compares with). */
export function liveVersion(view: ScopeView | null, key: string, nowMs: number): number {
  const stored = view?.keys.get(key);
  return stored !== undefined && isLive(stored, nowMs) ? stored.version : 0;
}

/** A stored key as the contract's Entry (a private copy of the value). */
export function toEntry(stored: StoredKey): Entry {
  return {
    value: valueOf(stored),
    version: stored.version,
    updatedAt: stored.updatedAt,
    updatedBy: stored.updatedBy,
    expiresAt: stored.expiresAt,
    heldBy: stored.heldBy,
  };
}
