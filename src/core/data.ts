/**
 * The data operations behind the tools: relative scopes in, storage calls,
 * API-shaped results out. Every write records the caller's session id.
 */
import { invalidArgument } from "./errors.ts";
import type { JsonValue } from "./json.ts";
import { matchGlob, type Scope, validateKey } from "./scope.ts";
import { projectScopesGlob, relativeScope, resolveScope } from "./scope_names.ts";
import {
  asOwner,
  HANDOFFS_SCOPE,
  INSTANCES_SCOPE,
  liveSession,
  type SessionBinding,
  type SessionContext,
} from "./session/mod.ts";

/** Result of store_data. */
export interface StoreDataResult {
  scope: string;
  key: string;
  version: number;
  updated_at: string;
  expires_at: string | null;
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
}

const RESERVED = [INSTANCES_SCOPE, HANDOFFS_SCOPE];

function writableScope(ctx: SessionContext, scope: string): Scope {
  const full = resolveScope(ctx.identity, scope);
  for (const reserved of RESERVED) {
    if (full === resolveScope(ctx.identity, reserved)) {
      throw invalidArgument(
        `scope ${
          JSON.stringify(scope)
        } is managed by sign_on and sign_off; read it, but do not write it.`,
      );
    }
  }
  return full;
}

/** Stores a value under a relative scope (store_data). */
export async function storeData(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { scope: string; key: string; value: JsonValue; ifVersion?: number; ttlSeconds?: number },
): Promise<StoreDataResult> {
  const full = writableScope(ctx, args.scope);
  const key = validateKey(args.key);
  const res = await asOwner(
    ctx,
    binding,
    (guard, held) =>
      ctx.storage.store(full, key, args.value, {
        ifVersion: args.ifVersion,
        ttlSeconds: args.ttlSeconds,
        updatedBy: held.sessionId,
        guard,
      }),
  );
  return {
    scope: args.scope,
    key: args.key,
    version: res.version,
    updated_at: res.updatedAt,
    expires_at: res.expiresAt,
  };
}

/** Reads a value under a relative scope (retrieve_data). */
export async function retrieveData(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { scope: string; key: string },
): Promise<RetrieveDataResult> {
  await liveSession(ctx, binding);
  const entry = await ctx.storage.retrieve(
    resolveScope(ctx.identity, args.scope),
    validateKey(args.key),
  );
  return {
    scope: args.scope,
    key: args.key,
    found: entry !== null,
    value: entry?.value ?? null,
    version: entry?.version ?? 0,
    updated_at: entry?.updatedAt ?? null,
    updated_by: entry?.updatedBy ?? null,
    expires_at: entry?.expiresAt ?? null,
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
  const deleted = await asOwner(
    ctx,
    binding,
    (guard) => ctx.storage.delete(full, key, { ifVersion: args.ifVersion, guard }),
  );
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

/** Lists the keys of a relative scope (list_keys). */
export async function listKeys(
  ctx: SessionContext,
  binding: SessionBinding,
  args: { scope: string },
): Promise<{ scope: string; keys: string[] }> {
  await liveSession(ctx, binding);
  const keys = await ctx.storage.listKeys(resolveScope(ctx.identity, args.scope));
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
