/**
 * The data operations behind the tools: relative scopes in, storage calls,
 * API-shaped results out. Every write records the caller's session id and is
 * fenced on its lease. A key written `with_lease` lives as long as its
 * writer's session (session/held.ts): once that session is gone it reads as
 * absent everywhere, and the next writer may take it with if_version 0.
 */
import { invalidArgument, isCoordinatorError } from "./errors.ts";
import type { JsonValue } from "./json.ts";
import { matchGlob, type Scope, validateKey } from "./scope.ts";
import { projectScopesGlob, relativeScope, resolveScope } from "./scope_names.ts";
import type { Entry } from "../storage/contract.ts";
import { isGuardFailure, versionConflict } from "../storage/values.ts";
import {
  asOwner,
  HANDOFFS_SCOPE,
  holderTag,
  INSTANCES_SCOPE,
  isDeadHeld,
  liveSession,
  readLeases,
  type SessionBinding,
  type SessionContext,
} from "./session/mod.ts";
import { BOARD_SCOPES } from "./board/scopes.ts";
import { AUDIT_SCOPE } from "./audit.ts";

/** Result of store_data. */
export interface StoreDataResult {
  scope: string;
  key: string;
  version: number;
  updated_at: string;
  expires_at: string | null;
  /** True when the key lives as long as this session (with_lease). */
  with_lease: boolean;
}

/** Result of retrieve_data; version 0 when absent, ready for if_version. */
export interface RetrieveDataResult {
  scope: string;
  key: string;
  found: boolean;
  value: JsonValue;
  version: number;
  updated_at: string | null;
  updated_by: string | null;
  expires_at: string | null;
  /** The session whose lifetime the key is tied to (with_lease), or null. */
  held_by: string | null;
}

/** Scopes the server manages; agents read them but write them only through their own tools. */
const RESERVED: Record<string, string> = {
  [INSTANCES_SCOPE]: "sign_on and sign_off",
  [HANDOFFS_SCOPE]: "sign_on and sign_off",
  ...BOARD_SCOPES,
  [AUDIT_SCOPE]: "the server's audit log",
};

function writableScope(ctx: SessionContext, scope: string): Scope {
  const full = resolveScope(ctx.identity, scope);
  for (const [reserved, owner] of Object.entries(RESERVED)) {
    if (full === resolveScope(ctx.identity, reserved)) {
      throw invalidArgument(
        `scope ${JSON.stringify(scope)} is managed by ${owner}; read it, but do not write it.`,
      );
    }
  }
  return full;
}

/** The entry as agents see it: null when absent, expired, or held by a session that is gone. */
async function visible(ctx: SessionContext, entry: Entry | null): Promise<Entry | null> {
  if (entry === null || entry.heldBy === null) return entry;
  return isDeadHeld(await readLeases(ctx), entry) ? null : entry;
}

/**
 * Runs a conditional write. A key held by a session that is gone reads as
 * absent, so `if_version 0` must take it: the storage sees its old version,
 * so the write is retried once against that version, and only while the key
 * is still that dead holder's.
 */
async function conditional<T>(
  ctx: SessionContext,
  scope: Scope,
  key: string,
  ifVersion: number | undefined,
  write: (ifVersion: number | undefined) => Promise<T>,
): Promise<T> {
  try {
    return await write(ifVersion);
  } catch (err) {
    if (ifVersion !== 0 || !isCoordinatorError(err, "VERSION_CONFLICT") || isGuardFailure(err)) {
      throw err;
    }
    const current = await ctx.storage.retrieve(scope, key);
    if (current === null || (await visible(ctx, current)) !== null) throw err;
    return await write(current.version);
  }
}

/** Stores a value under a relative scope (store_data). */
export async function storeData(
  ctx: SessionContext,
  binding: SessionBinding,
  args: {
    scope: string;
    key: string;
    value: JsonValue;
    ifVersion?: number;
    ttlSeconds?: number;
    withLease?: boolean;
  },
): Promise<StoreDataResult> {
  const full = writableScope(ctx, args.scope);
  const key = validateKey(args.key);
  const res = await asOwner(
    ctx,
    binding,
    (guard, held) =>
      conditional(
        ctx,
        full,
        key,
        args.ifVersion,
        (ifVersion) =>
          ctx.storage.store(full, key, args.value, {
            ifVersion,
            ttlSeconds: args.ttlSeconds,
            updatedBy: held.sessionId,
            heldBy: args.withLease ? holderTag(held) : null,
            guard,
          }),
      ),
  );
  return {
    scope: args.scope,
    key: args.key,
    version: res.version,
    updated_at: res.updatedAt,
    expires_at: res.expiresAt,
    with_lease: args.withLease === true,
  };
}

/** Reads a value under a relative scope (retrieve_data). */
export async function retrieveData(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { scope: string; key: string },
): Promise<RetrieveDataResult> {
  await liveSession(ctx, binding);
  const raw = await ctx.storage.retrieve(
    resolveScope(ctx.identity, args.scope),
    validateKey(args.key),
  );
  const entry = await visible(ctx, raw);
  return {
    scope: args.scope,
    key: args.key,
    found: entry !== null,
    value: entry?.value ?? null,
    version: entry?.version ?? 0,
    updated_at: entry?.updatedAt ?? null,
    updated_by: entry?.updatedBy ?? null,
    expires_at: entry?.expiresAt ?? null,
    held_by: entry?.heldBy?.split(" ")[0] ?? null,
  };
}

/** Deletes a key under a relative scope (delete_data). */
export async function deleteData(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { scope: string; key: string; ifVersion?: number },
): Promise<{ deleted: boolean }> {
  const full = writableScope(ctx, args.scope);
  const key = validateKey(args.key);
  const deleted = await asOwner(ctx, binding, async (guard) => {
    const current = await ctx.storage.retrieve(full, key);
    if (current !== null && (await visible(ctx, current)) === null) {
      // Held by a session that is gone: absent to everyone. Purge it on the way.
      await ctx.storage.delete(full, key, { ifVersion: current.version, guard }).catch(() => {});
      if (args.ifVersion === undefined || args.ifVersion === 0) return false;
      throw versionConflict(full, key, args.ifVersion, 0);
    }
    return await ctx.storage.delete(full, key, { ifVersion: args.ifVersion, guard });
  });
  return { deleted };
}

/** Deletes a whole relative scope (delete_scope). */
export async function deleteScope(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { scope: string },
): Promise<{ deleted: boolean }> {
  const full = writableScope(ctx, args.scope);
  return {
    deleted: await asOwner(ctx, binding, (guard) => ctx.storage.deleteScope(full, { guard })),
  };
}

/** Lists the keys of a relative scope (list_keys); keys whose holder is gone are left out. */
export async function listKeys(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { scope: string },
): Promise<{ scope: string; keys: string[] }> {
  await liveSession(ctx, binding);
  const entries = await ctx.storage.listEntries(resolveScope(ctx.identity, args.scope));
  const held = entries.some((e) => e.entry.heldBy !== null);
  const leases = held ? await readLeases(ctx) : null;
  const keys = entries
    .filter((e) => leases === null || !isDeadHeld(leases, e.entry))
    .map((e) => e.key);
  return { scope: args.scope, keys };
}

/**
 * Lists the project's scopes on every machine in their relative form (this
 * machine's bare, others as `@machine:<id>:…`, shared ones as `@project:…`),
 * filtered by an fnmatch glob over that form (list_scopes).
 */
export async function listScopes(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { pattern?: string },
): Promise<{ scopes: string[] }> {
  await liveSession(ctx, binding);
  if (args.pattern !== undefined) matchGlob(args.pattern, ""); // reject a bad glob early
  const full = await ctx.storage.listScopes(projectScopesGlob(ctx.identity));
  const scopes = full
    .map((s) => relativeScope(ctx.identity, s))
    .filter((s): s is string => s !== null)
    .filter((s) => args.pattern === undefined || matchGlob(args.pattern, s))
    .sort();
  return { scopes };
}
