/**
 * The Lua scripts of the Redis adapter. Every write and every listing runs as
 * one script so Redis executes it atomically: compare-and-set has no
 * read-then-write window, and a listing is a consistent snapshot.
 *
 * Key layout (P is the configured prefix, e.g. "csc:"; NUL is "\0", which
 * scope and key names can never contain, so the split is unambiguous):
 *
 * - `P k:<scope>NUL<key>`  hash: value (JSON text), version, updated_at (ISO),
 *                          updated_by (absent when unknown), expires_at (epoch
 *                          ms, absent when the key never expires). A key with a
 *                          TTL carries a real Redis expiry (PEXPIREAT).
 * - `P i:<scope>`          sorted set, the scope's key index: member = key name,
 *                          score = expires_at ms or +inf. Lets listings find
 *                          live keys without scanning the keyspace.
 * - `P m:<scope>`          hash, scope metadata: `seq` is the version counter
 *                          (HINCRBY). It outlives the scope's keys so a deleted
 *                          and re-created key never reuses a version; only
 *                          delete_scope removes it.
 * - `P scopes`             set of scope names that may hold live keys; cleaned
 *                          lazily by list_scopes, never enumerated with KEYS.
 *
 * Scripts build key names for index members themselves (`k:` keys of a scope),
 * which is fine on a single Redis node but not cluster-safe.
 *
 * Clock: the caller passes `now` (epoch ms) so the adapter's clock decides
 * liveness exactly like the file adapter's; Redis's own expiry removes the
 * data at the same instant (PEXPIREAT to the same expires_at).
 *
 * Unreadable data is reported by raising `CSC_CORRUPT <hex of redis key>
 * <reason>`; the adapter turns that into CORRUPT_STATE naming the key. The
 * key is hex-encoded because it contains NUL, which error lines cannot carry.
 */
import { createHash } from "node:crypto";

/** A Lua script with its SHA1, for EVALSHA. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, body: string): LuaScript {
  const source = PRELUDE + body;
  return { name, source, sha: createHash("sha1").update(source, "utf8").digest("hex") };
}

// Shared helpers, prepended to every script.
const PRELUDE = `
local function hex(s)
  return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end))
end
local function corrupt(key, reason)
  error({err = 'CSC_CORRUPT ' .. hex(key) .. ' ' .. reason})
end
-- redis.call with type errors (WRONGTYPE, not an integer) reported as corruption of 'key'.
local function call(key, ...)
  local r = redis.pcall(...)
  if type(r) == 'table' and r.err then corrupt(key, r.err) end
  return r
end
-- The live version of a value hash, or 0 when it is absent or expired at 'now'.
-- The second result is true when the hash exists but is expired.
local function current(k, now)
  local h = call(k, 'HMGET', k, 'version', 'expires_at')
  if not h[1] then
    if call(k, 'EXISTS', k) == 1 then corrupt(k, 'has no version field') end
    return 0, false
  end
  local v = tonumber(h[1])
  if not v or v < 1 or v ~= math.floor(v) then corrupt(k, 'version is not a positive integer') end
  if h[2] then
    local e = tonumber(h[2])
    if not e then corrupt(k, 'expires_at is not a number') end
    if e <= now then return 0, true end
  end
  return v, false
end
-- Writes one entry's hash and its expiry, and indexes it in its scope: the
-- last step of a store and of a restore. 'by' is nil when the writer is unknown.
local function write_entry(k, idx, scopes, scope, member, value, ver, at, by, exp)
  -- DEL first so fields of the previous write (updated_by, expires_at) and its
  -- expiry do not survive.
  redis.call('DEL', k)
  if by then
    redis.call('HSET', k, 'value', value, 'version', ver, 'updated_at', at, 'updated_by', by)
  else
    redis.call('HSET', k, 'value', value, 'version', ver, 'updated_at', at)
  end
  if exp ~= '' then
    redis.call('HSET', k, 'expires_at', exp)
    redis.call('PEXPIREAT', k, exp)
    call(idx, 'ZADD', idx, exp, member)
  else
    call(idx, 'ZADD', idx, '+inf', member)
  end
  call(scopes, 'SADD', scopes, scope)
end
`;

/**
 * Compare-and-set write.
 * KEYS: value hash, index, meta, scopes set.
 * ARGV: key, scope, value JSON, ifVersion ('' = unconditional), now ms,
 *       expires_at ms ('' = never), updated_at ISO, updated_by ('' = none), has_updated_by ('1'/'0').
 * Returns {1, version} on success, {0, current_version} on a conflict.
 */
export const STORE: LuaScript = script(
  "store",
  `
local k, idx, meta, scopes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, scope, value, ifv = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, exp = tonumber(ARGV[5]), ARGV[6]
local cur = current(k, now)
if ifv ~= '' and tonumber(ifv) ~= cur then return {0, cur} end
local ver = call(meta, 'HINCRBY', meta, 'seq', 1)
-- Defensive: if the counter was lost (evicted, deleted by hand) never hand out
-- a version at or below the one the key holds.
if ver <= cur then
  ver = cur + 1
  call(meta, 'HSET', meta, 'seq', ver)
end
write_entry(k, idx, scopes, scope, member, value, ver, ARGV[7], ARGV[9] == '1' and ARGV[8] or nil, exp)
return {1, ver}
`,
);

/**
 * Writes an exported entry as it was (migration, backup), raising the scope's
 * counter to at least its version so later writes get versions above it.
 * KEYS: value hash, index, meta, scopes set.
 * ARGV: key, scope, value JSON, version, updated_at, updated_by ('' = none),
 *       has_updated_by ('1'/'0'), expires_at ms ('' = never), now ms.
 * Returns 1 when written, 0 when the entry had already expired.
 */
export const RESTORE: LuaScript = script(
  "restore",
  `
local k, idx, meta, scopes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local member, scope, value, ver = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local exp, now = ARGV[8], tonumber(ARGV[9])
if exp ~= '' and tonumber(exp) <= now then return 0 end
local seq = call(meta, 'HGET', meta, 'seq')
if seq and not tonumber(seq) then corrupt(meta, 'seq is not an integer') end
if not seq or tonumber(seq) < ver then call(meta, 'HSET', meta, 'seq', ver) end
write_entry(k, idx, scopes, scope, member, value, ver, ARGV[5], ARGV[7] == '1' and ARGV[6] or nil, exp)
return 1
`,
);

/**
 * Conditional delete.
 * KEYS: value hash, index, scopes set. ARGV: key, ifVersion ('' = any), now ms, scope.
 * Returns {1, 1} when a live key was deleted, {1, 0} when there was none,
 * {0, current_version} on a conflict.
 */
export const DELETE: LuaScript = script(
  "delete",
  `
local k, idx, scopes = KEYS[1], KEYS[2], KEYS[3]
local member, ifv, now, scope = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local cur, expired = current(k, now)
if ifv ~= '' and tonumber(ifv) ~= cur then return {0, cur} end
if cur == 0 and not expired then return {1, 0} end
redis.call('DEL', k)
call(idx, 'ZREM', idx, member)
if call(idx, 'ZCARD', idx) == 0 then call(scopes, 'SREM', scopes, scope) end
if cur == 0 then return {1, 0} end
return {1, 1}
`,
);

/**
 * Live keys of a scope, optionally with their fields; purges index members
 * that expired or whose hash vanished.
 * KEYS: index, scopes set. ARGV: now ms, value-key prefix of the scope, scope, '1' for entries.
 * Returns key names, or flat groups {key, value, version, updated_at, updated_by, expires_at}.
 */
export const LIST: LuaScript = script(
  "list",
  `
local idx, scopes = KEYS[1], KEYS[2]
local now, kprefix, scope, full = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4] == '1'
call(idx, 'ZREMRANGEBYSCORE', idx, '-inf', ARGV[1])
local members = call(idx, 'ZRANGE', idx, 0, -1)
local out = {}
for _, m in ipairs(members) do
  local k = kprefix .. m
  local cur = current(k, now)
  if cur == 0 then
    call(idx, 'ZREM', idx, m)
  elseif full then
    local h = call(k, 'HMGET', k, 'value', 'updated_at', 'updated_by', 'expires_at')
    if not h[1] then corrupt(k, 'has no value field') end
    if not h[2] then corrupt(k, 'has no updated_at field') end
    local n = #out
    out[n + 1] = m
    out[n + 2] = h[1]
    out[n + 3] = cur
    out[n + 4] = h[2]
    out[n + 5] = h[3]
    out[n + 6] = h[4]
  else
    out[#out + 1] = m
  end
end
if call(idx, 'ZCARD', idx) == 0 then call(scopes, 'SREM', scopes, scope) end
return out
`,
);

/**
 * Which of the given scopes hold a live key; drops dead ones from the scopes
 * set and purges their stale index members.
 * KEYS: scopes set. ARGV: now ms, prefix, scope names...
 */
export const LIVE_SCOPES: LuaScript = script(
  "live_scopes",
  `
local scopes = KEYS[1]
local now, prefix = tonumber(ARGV[1]), ARGV[2]
local out = {}
for j = 3, #ARGV do
  local scope = ARGV[j]
  local idx = prefix .. 'i:' .. scope
  local members = redis.pcall('ZRANGEBYSCORE', idx, '(' .. ARGV[1], '+inf')
  if type(members) == 'table' and members.err then
    -- A damaged index is listed, like the file adapter lists a corrupt
    -- file: the user sees the scope and meets CORRUPT_STATE reading it.
    out[#out + 1] = scope
  else
    redis.call('ZREMRANGEBYSCORE', idx, '-inf', ARGV[1])
    local live = false
    for _, m in ipairs(members) do
      if redis.call('EXISTS', prefix .. 'k:' .. scope .. '\\0' .. m) == 1 then
        live = true
        break
      end
      redis.call('ZREM', idx, m)
    end
    if live then
      out[#out + 1] = scope
    elseif redis.call('ZCARD', idx) == 0 then
      redis.call('SREM', scopes, scope)
    end
  end
end
return out
`,
);

/**
 * Deletes a scope: its value hashes, index and version counter. Tolerates
 * damaged data (it is the way to get rid of it).
 * KEYS: index, meta, scopes set. ARGV: now ms, value-key prefix of the scope, scope.
 * Returns 1 when the scope held a live key, else 0.
 */
export const DELETE_SCOPE: LuaScript = script(
  "delete_scope",
  `
local idx, meta, scopes = KEYS[1], KEYS[2], KEYS[3]
local now, kprefix, scope = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local live = 0
local members = redis.pcall('ZRANGE', idx, 0, -1, 'WITHSCORES')
if type(members) == 'table' and not members.err then
  for j = 1, #members, 2 do
    local k = kprefix .. members[j]
    -- RESP2 renders the +inf score of a key without expiry as 'inf'.
    local score = members[j + 1]
    local alive = score == 'inf' or (tonumber(score) or 0) > now
    if redis.call('DEL', k) == 1 and alive then live = 1 end
  end
end
redis.call('DEL', idx, meta)
redis.call('SREM', scopes, scope)
return live
`,
);
