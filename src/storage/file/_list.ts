/**
 * listScopes of the local file adapter: which scopes of the state directory
 * hold a live key, from their logs (via the cache) and format-1 files.
 */
import { join } from "node:path";
import { globToRegExp, type Scope } from "../../core/scope.ts";
import type { FileContext } from "./_context.ts";
import { ioUnavailable } from "./_errors.ts";
import { compareStrings } from "../values.ts";
import type { LogState } from "./_log.ts";
import { hasLiveKey, readLegacy, readLog } from "./_read.ts";
import type { LegacyScope } from "./_v1.ts";
import {
  fileNameToScope,
  isHashedFileName,
  LEGACY_FILE_SUFFIX,
  LOG_FILE_SUFFIX,
  scopeToFileName,
} from "./names.ts";

/** True for the names of state files: logs and format-1 files. */
export function isStateFileName(name: string): boolean {
  return name.endsWith(LOG_FILE_SUFFIX) || name.endsWith(LEGACY_FILE_SUFFIX);
}

/**
 * The scope a state file's name stands for, for the change feed: null when
 * the name is no scope's, undefined when it cannot tell (a hashed name this
 * process has not met, whose log cannot be read, say after it was deleted).
 */
export function scopeOfFileName(ctx: FileContext, name: string): string | null | undefined {
  const suffix = name.endsWith(LOG_FILE_SUFFIX)
    ? LOG_FILE_SUFFIX
    : name.endsWith(LEGACY_FILE_SUFFIX)
    ? LEGACY_FILE_SUFFIX
    : null;
  if (suffix === null) return null;
  const readable = fileNameToScope(name, suffix);
  if (readable !== null) return readable;
  if (!isHashedFileName(name, suffix)) return null;
  const known = ctx.scopeOfHashedName(name);
  if (known !== undefined || suffix !== LOG_FILE_SUFFIX) return known;
  try {
    const scope = readLog(ctx, join(ctx.basePath, name), name, null)?.header?.scope;
    return scope !== undefined && scopeToFileName(scope as Scope, LOG_FILE_SUFFIX) === name
      ? scope
      : undefined;
  } catch {
    return undefined;
  }
}

/** Scopes with at least one live key, sorted, filtered by an fnmatch glob. */
export async function listScopes(ctx: FileContext, pattern?: string): Promise<string[]> {
  ctx.ensureOpen();
  const regex = pattern === undefined ? null : globToRegExp(pattern);
  const matches = (scope: string) => regex === null || regex.test(scope);
  const logs = new Set<string>();
  const legacies: string[] = [];
  try {
    for await (const entry of Deno.readDir(ctx.basePath)) {
      // Dot-files are temp files and the lock directory; never scopes.
      if (entry.isDirectory || entry.name.startsWith(".")) continue;
      if (entry.name.endsWith(LOG_FILE_SUFFIX)) logs.add(entry.name);
      else if (entry.name.endsWith(LEGACY_FILE_SUFFIX)) legacies.push(entry.name);
    }
  } catch (err) {
    // Deleted (wiped) under us: no scope until the next write makes it again.
    if (err instanceof Deno.errors.NotFound) return [];
    throw ioUnavailable(ctx.basePath, "list the state directory", err);
  }
  ctx.ensureOpen();
  const nowMs = ctx.now();
  const scopes = new Set<string>();
  // One log at a time, from the cache: only what was appended since is read.
  for (const name of logs) {
    const scope = scopeOfLog(ctx, name, matches, nowMs);
    if (scope !== null) scopes.add(scope);
  }
  for (const name of legacies) {
    // A scope with a log is the log's alone, even if its old file is still there.
    if (logs.has(name.slice(0, -LEGACY_FILE_SUFFIX.length) + LOG_FILE_SUFFIX)) continue;
    const scope = scopeOfLegacy(ctx, name, matches, nowMs);
    if (scope !== null) scopes.add(scope);
  }
  return [...scopes].sort(compareStrings);
}

/** The scope a log holds if it has a live key; null otherwise, or for foreign and unreadable files. */
function scopeOfLog(
  ctx: FileContext,
  name: string,
  matches: (s: string) => boolean,
  nowMs: number,
): string | null {
  const readable = fileNameToScope(name, LOG_FILE_SUFFIX);
  if (readable === null && !isHashedFileName(name, LOG_FILE_SUFFIX)) return null; // not ours
  // Filtering by name first spares reading logs the pattern excludes.
  if (readable !== null && !matches(readable)) return null;
  let state: LogState | null;
  try {
    state = readLog(ctx, join(ctx.basePath, name), name, readable);
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
  ctx: FileContext,
  name: string,
  matches: (s: string) => boolean,
  nowMs: number,
): string | null {
  const readable = fileNameToScope(name, LEGACY_FILE_SUFFIX);
  if (readable === null && !isHashedFileName(name, LEGACY_FILE_SUFFIX)) return null;
  if (readable !== null && !matches(readable)) return null;
  let parsed: LegacyScope | null;
  try {
    parsed = readLegacy(join(ctx.basePath, name), readable);
  } catch {
    return readable;
  }
  if (parsed === null) {
    // Converted since the directory was listed: the scope is in its log now.
    const log = name.slice(0, -LEGACY_FILE_SUFFIX.length) + LOG_FILE_SUFFIX;
    return scopeOfLog(ctx, log, matches, nowMs);
  }
  const scope = parsed.scope;
  if (readable === null && (scopeToFileName(scope) !== name || !matches(scope))) return null;
  return hasLiveKey(parsed.keys, nowMs) ? scope : null;
}
