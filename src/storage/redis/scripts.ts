/**
 * The Lua scripts of the Redis adapter. Every write and every listing runs as
 * one script so Redis executes it atomically: compare-and-set and guards have
 * no read-then-write window, a batch lands whole or not at all, and a listing
 * is a consistent snapshot.
 *
 * Key layout (P is the configured prefix, e.g. "csc:"; NUL is "\0", which
 * scope and key names can never contain, so the split is unambiguous):
 *
 * - `P k:<scope>NUL<key>`  hash: value (JSON text), version, updated_at (ISO),
 *                          updated_by (absent when unknown), held_by (the
 *                          opaque holder tag; absent for none), expires_at
 *                          (epoch ms, absent when the key never expires). A
 *                          key with a TTL carries a real Redis expiry
 *                          (PEXPIREAT).
 * - `P i:<scope>`          sorted set, the scope's key index: member = key name,
 *                          score = expires_at ms or +inf. Lets listings find
 *                          live keys without scanning the keyspace, and expired
 *                          ones by score.
 * - `P l:<scope>`          sorted set, the scope's lexicographic index: every
 *                          score 0, member = lex(key) NUL key, where lex(key)
 *                          is the key's UTF-16 code units as 4 lowercase hex
 *                          digits each. Fixed-width hex compares byte by byte
 *                          as the code units compare by value, and NUL sorts
 *                          below every hex digit, so ZRANGEBYLEX walks the
 *                          members in JavaScript's order (UTF-16 code units;
 *                          a key's own prefix first), and the keys starting
 *                          with a prefix p are the members from lex(p) up to
 *                          lex(p) followed by "g" (which sorts above every hex
 *                          digit and NUL). A listing with a prefix and a limit
 *                          so reads only the keys it returns (plus dead ones
 *                          it purges): O(log n + limit). Plain UTF-8 bytes
 *                          would not do: they put U+E000..U+FFFF after the
 *                          supplementary characters, UTF-16 before them, and
 *                          a prefix may end in half a surrogate pair, which
 *                          UTF-8 cannot carry. The members are exactly those
 *                          of `i:`, kept so by every script that adds or
 *                          removes an index member; a scope written before
 *                          this index existed has none, and LIST builds it
 *                          (see sync_lex). Same prefix P: the ACL needs
 *                          nothing new.
 * - `P m:<scope>`          hash, scope metadata: `seq` is the largest version
 *                          handed out. It outlives the scope's keys, also
 *                          delete_scope, so a deleted and re-created key never
 *                          reuses a version. When it is missing (a new scope, or
 *                          a server that lost its data) the next version is
 *                          the caller's clock seed + 1 (versionSeed in
 *                          contract.ts), above any version handed out before.
 * - `P scopes`             set of scope names that may hold live keys; cleaned
 *                          lazily by list_scopes, never enumerated with KEYS.
 * - channel `P changes`    every script that changes a scope PUBLISHes the
 *                          scope's name here, inside the script, so the change
 *                          feed needs no keyspace-notification config and no
 *                          change can land without its message. The probe may
 *                          publish an empty message, which is no scope name.
 *
 * Scripts build key names for index members themselves (`k:` keys of a scope;
 * LIVE_SCOPES also the indexes of the scopes it is given), which is fine on a
 * single Redis node but not cluster-safe.
 *
 * Clock: the caller passes `now` (epoch ms) so the adapter's clock decides
 * liveness and guards exactly as in every other adapter; Redis's own expiry
 * removes the data at the same instant (PEXPIREAT to the same expires_at).
 *
 * Numbers: versions seeded from the clock have 16 digits, and Lua's own
 * number-to-text conversion keeps only 14, so every version written goes
 * through int() (exact below 2^53). Versions are returned as text too:
 * node-redis decodes integer replies within 57 of 2^53 inexactly.
 *
 * Unreadable data is reported by raising `CSC_CORRUPT <hex of redis key>
 * <reason>`; the adapter turns that into CORRUPT_STATE naming the key. The
 * key is hex-encoded because it contains NUL, which error lines cannot carry.
 *
 * Replies use small tuples: {1, ...} success, {0, op, current_version} a
 * version conflict on the op-th write, {2} a guard that does not hold.
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

/**
 * The hex part of a key's member in the lexicographic index (`l:`, see the
 * key layout): every UTF-16 code unit as 4 lowercase hex digits, so byte
 * order of the result is JavaScript's order of the text. The scripts compute
 * the same for keys (lex_member, from the key's UTF-8); the adapter computes
 * it here for a list prefix, which may end in half a surrogate pair that
 * UTF-8 cannot carry to the server.
 *
 * @example
 * ```ts
 * lexHex("r:😀"); // "0072003ad83dde00"
 * ```
 */
export function lexHex(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) out += text.charCodeAt(i).toString(16).padStart(4, "0");
  return out;
}

/** ARGV of WRITE before the first op; each op then takes WRITE_OP_ARGS more. */
export const WRITE_HEAD_ARGS = 9;
/** ARGV per op of WRITE: kind ('set'/'delete'/'check'), key, ifVersion, value, expires_at, held_by. */
export const WRITE_OP_ARGS = 6;

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
-- An integer as exact decimal text.
local function int(n)
  return string.format('%.0f', n)
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
-- True when the value hash 'k' is live at 'now' and its value is a JSON object
-- whose field 'field' is the string 'equals'. A value that does not decode
-- (or nests deeper than cjson follows) does not hold.
local function guard_holds(k, field, equals, now)
  if current(k, now) == 0 then return false end
  local text = call(k, 'HGET', k, 'value')
  -- Values are JSON.stringify output: only an object starts with '{'. This
  -- also keeps arrays out, which cjson decodes to tables as well.
  if type(text) ~= 'string' or string.sub(text, 1, 1) ~= '{' then return false end
  local ok, value = pcall(cjson.decode, text)
  if not ok or type(value) ~= 'table' then return false end
  return value[field] == equals
end
-- The counter's current value, or nil when it is missing.
local function counter(meta)
  local seq = call(meta, 'HGET', meta, 'seq')
  if not seq then return nil end
  local n = tonumber(seq)
  if not n then corrupt(meta, 'seq is not an integer') end
  return n
end
-- Fails (as corruption) unless the indexes and the scopes set have the right
-- types: checked before a script writes anything, because Redis does not roll
-- a script back when it fails half-way.
local function check_types(idx, lex, scopes)
  call(idx, 'ZCARD', idx)
  call(lex, 'ZCARD', lex)
  call(scopes, 'SCARD', scopes)
end
-- A key's member in the lexicographic index (see the key layout): its UTF-16
-- code units as 4 hex digits each, NUL, the key. Keys reach Redis as UTF-8
-- (node-redis encodes JavaScript strings so, and keys are well-formed), which
-- this decodes; lexHex in this module is the same encoding in TypeScript.
local function lex_member(key)
  local byte, n = string.byte, #key
  -- ASCII, the common case: one byte per code unit, one format call.
  if not string.find(key, '[\\128-\\255]') then
    return string.format(string.rep('%04x', n), byte(key, 1, n)) .. '\\0' .. key
  end
  local units, i = {}, 1
  while i <= n do
    local b = byte(key, i)
    local cp
    if b < 0x80 then
      cp = b
      i = i + 1
    elseif b < 0xE0 then
      cp = (b % 0x20) * 0x40 + (byte(key, i + 1) or 0) % 0x40
      i = i + 2
    elseif b < 0xF0 then
      local c1, c2 = byte(key, i + 1, i + 2)
      cp = ((b % 0x10) * 0x40 + (c1 or 0) % 0x40) * 0x40 + (c2 or 0) % 0x40
      i = i + 3
    else
      local c1, c2, c3 = byte(key, i + 1, i + 3)
      cp = (((b % 0x08) * 0x40 + (c1 or 0) % 0x40) * 0x40 + (c2 or 0) % 0x40) * 0x40 + (c3 or 0) % 0x40
      i = i + 4
    end
    if cp >= 0x10000 then
      -- A supplementary character is a surrogate pair in UTF-16.
      cp = cp - 0x10000
      units[#units + 1] = 0xD800 + math.floor(cp / 0x400)
      units[#units + 1] = 0xDC00 + cp % 0x400
    else
      units[#units + 1] = cp
    end
  end
  -- Keys are at most 256 characters (512 code units): unpack stays within Lua's stack.
  return string.format(string.rep('%04x', #units), unpack(units)) .. '\\0' .. key
end
-- ZREM of many members, in chunks: unpack() of a huge table would overflow Lua's stack.
local function zrem_all(zset, members)
  for j = 1, #members, 500 do
    redis.call('ZREM', zset, unpack(members, j, math.min(j + 499, #members)))
  end
end
-- Drops the members that expired by 'now' (epoch ms, as text) from both
-- indexes: they are the low end of the index by score, so this costs
-- O(log n + expired), and each expired member is dropped once.
local function purge_expired(idx, lex, now_text)
  local dead = call(idx, 'ZRANGEBYSCORE', idx, '-inf', now_text)
  if #dead == 0 then return end
  local lexed = {}
  for j, m in ipairs(dead) do lexed[j] = lex_member(m) end
  call(lex, 'ZCARD', lex)
  zrem_all(lex, lexed)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', now_text)
end
-- Builds the lexicographic index from the key index when their sizes differ:
-- a scope written before the lexicographic index existed (or whose index was
-- damaged by hand). Every script adds to or removes from both indexes
-- together, so the lexicographic index never holds a member the key index
-- lacks, and equal sizes mean equal members: two O(1) ZCARDs per listing,
-- and the O(n) rebuild happens once per scope.
local function sync_lex(idx, lex)
  local n = call(idx, 'ZCARD', idx)
  if call(lex, 'ZCARD', lex) == n then return end
  redis.call('DEL', lex)
  local members = redis.call('ZRANGE', idx, 0, -1)
  for j = 1, #members, 500 do
    local args = {}
    for q = j, math.min(j + 499, #members) do
      args[#args + 1] = 0
      args[#args + 1] = lex_member(members[q])
    end
    redis.call('ZADD', lex, unpack(args))
  end
end
-- Writes one entry's hash and its expiry, and indexes it in its scope: the
-- last step of a set and of a restore. 'by' and 'held' are nil for none.
local function write_entry(k, idx, lex, scopes, scope, member, value, ver, at, by, held, exp)
  -- DEL first so fields of the previous write (updated_by, held_by,
  -- expires_at) and its expiry do not survive.
  redis.call('DEL', k)
  local fields = {'value', value, 'version', int(ver), 'updated_at', at}
  if by then
    fields[#fields + 1] = 'updated_by'
    fields[#fields + 1] = by
  end
  if held then
    fields[#fields + 1] = 'held_by'
    fields[#fields + 1] = held
  end
  if exp ~= '' then
    fields[#fields + 1] = 'expires_at'
    fields[#fields + 1] = exp
  end
  redis.call('HSET', k, unpack(fields))
  if exp ~= '' then
    redis.call('PEXPIREAT', k, exp)
    call(idx, 'ZADD', idx, exp, member)
  else
    call(idx, 'ZADD', idx, '+inf', member)
  end
  call(lex, 'ZADD', lex, 0, lex_member(member))
  call(scopes, 'SADD', scopes, scope)
end
`;

/**
 * Every store, delete and batch: checks the guard and every op's ifVersion
 * (check ops do nothing else) first, then applies every op, in op order.
 * KEYS: index, lexicographic index, meta, scopes set, [guard value hash, when
 *       ARGV[8] ~= ''], then one value hash per op.
 * ARGV: now ms, version seed, scope, updated_at ISO, updated_by ('' = none),
 *       has_updated_by ('1'/'0'), change channel, guard field ('' = no
 *       guard), guard equals; then per op WRITE_OP_ARGS: kind ('set',
 *       'delete' or 'check', which only checks its ifVersion), key, ifVersion
 *       ('' = unconditional), value JSON ('' unless a set), expires_at ms
 *       ('' = never), held_by ('' = none).
 * Returns {1, r...} with r = the new version of a set (as text), 1/0 for a
 * delete that did/did not remove a live key, 0 for a check; {0, op number, current_version
 * (as text)} on a
 * conflict; {2} when the guard does not hold. Publishes the scope when a key
 * changed.
 */
export const WRITE: LuaScript = script(
  "write",
  `
local idx, lex, meta, scopes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, seed, scope, at = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local by = ARGV[6] == '1' and ARGV[5] or nil
local channel, field = ARGV[7], ARGV[8]
local first = 5
if field ~= '' then
  if not guard_holds(KEYS[5], field, ARGV[9], now) then return {2} end
  first = 6
end
local n = (#ARGV - ${WRITE_HEAD_ARGS}) / ${WRITE_OP_ARGS}
-- Every condition and every read that could fail, before the first write.
local cur, expired, changed, seq = {}, {}, false, nil
for i = 1, n do
  local a = ${WRITE_HEAD_ARGS} + (i - 1) * ${WRITE_OP_ARGS}
  cur[i], expired[i] = current(KEYS[first + i - 1], now)
  if ARGV[a + 3] ~= '' and tonumber(ARGV[a + 3]) ~= cur[i] then return {0, i, int(cur[i])} end
  if ARGV[a + 1] == 'set' then
    if not seq then seq = counter(meta) or seed end
    changed = true
  elseif ARGV[a + 1] == 'delete' and cur[i] > 0 then
    changed = true
  end
end
check_types(idx, lex, scopes)
-- Published first: a user not allowed to publish then changes nothing.
-- Subscribers see the message only after the script, like everyone else.
if changed then redis.call('PUBLISH', channel, scope) end
local out, removed = {1}, false
for i = 1, n do
  local a = ${WRITE_HEAD_ARGS} + (i - 1) * ${WRITE_OP_ARGS}
  local k, member = KEYS[first + i - 1], ARGV[a + 2]
  if ARGV[a + 1] == 'set' then
    seq = seq + 1
    -- Defensive: a counter lost by hand must not hand out the key's own version again.
    if seq <= cur[i] then seq = cur[i] + 1 end
    local held = ARGV[a + 6] ~= '' and ARGV[a + 6] or nil
    write_entry(k, idx, lex, scopes, scope, member, ARGV[a + 4], seq, at, by, held, ARGV[a + 5])
    out[i + 1] = int(seq)
  elseif ARGV[a + 1] == 'check' then
    out[i + 1] = 0
  else
    -- An expired hash is purged too, though that changes nothing visible.
    if cur[i] > 0 or expired[i] then
      redis.call('DEL', k)
      redis.call('ZREM', idx, member)
      redis.call('ZREM', lex, lex_member(member))
      removed = true
    end
    out[i + 1] = cur[i] > 0 and 1 or 0
  end
end
if seq then redis.call('HSET', meta, 'seq', int(seq)) end
if removed and redis.call('ZCARD', idx) == 0 then
  redis.call('SREM', scopes, scope)
  redis.call('DEL', lex)
end
return out
`,
);

/**
 * Writes an exported entry as it was (migration, backup), raising the scope's
 * counter (seeded from the clock when missing) to at least its version so
 * later writes get versions above it.
 * KEYS: value hash, index, lexicographic index, meta, scopes set.
 * ARGV: key, scope, value JSON, version, updated_at, updated_by ('' = none),
 *       has_updated_by ('1'/'0'), expires_at ms ('' = never), now ms,
 *       version seed, held_by ('' = none), change channel.
 * Returns 1 when written, 0 when the entry had already expired. Publishes the
 * scope when written.
 */
export const RESTORE: LuaScript = script(
  "restore",
  `
local k, idx, lex, meta, scopes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local member, scope, value, ver = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local exp, now, seed = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
if exp ~= '' and tonumber(exp) <= now then return 0 end
local seq = counter(meta) or seed
if seq < ver then seq = ver end
check_types(idx, lex, scopes)
redis.call('PUBLISH', ARGV[12], scope)
redis.call('HSET', meta, 'seq', int(seq))
local held = ARGV[11] ~= '' and ARGV[11] or nil
write_entry(k, idx, lex, scopes, scope, member, value, ver, ARGV[5], ARGV[7] == '1' and ARGV[6] or nil, held, exp)
return 1
`,
);

/**
 * Live keys of a scope whose names start with a prefix, in UTF-16 order
 * (JavaScript's), at most `limit` of them, optionally with their fields.
 * Walks the lexicographic index from the prefix on, so it reads only the keys
 * it returns plus the dead ones it meets, which it purges from both indexes
 * (a hash Redis expired by its own clock, or one deleted by hand); it pages on
 * until it has `limit` live keys or the prefix's range ends. Members that
 * expired by `now` are purged first, by score. Builds the lexicographic index
 * of a scope written before it existed (sync_lex).
 * KEYS: index, lexicographic index, scopes set.
 * ARGV: now ms, value-key prefix of the scope, scope, '1' for entries,
 *       lexHex of the key-name prefix ('' = all), limit ('' = none).
 * Returns key names, or flat groups {key, value, version, updated_at,
 * updated_by, expires_at, held_by}.
 */
export const LIST: LuaScript = script(
  "list",
  `
local idx, lex, scopes = KEYS[1], KEYS[2], KEYS[3]
local now, kprefix, scope, full = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4] == '1'
local hexprefix, limit = ARGV[5], tonumber(ARGV[6])
purge_expired(idx, lex, ARGV[1])
sync_lex(idx, lex)
-- 'g' sorts above every hex digit and NUL: the range is every member whose
-- hex starts with the prefix's.
local lo, hi = '-', '+'
if hexprefix ~= '' then lo, hi = '[' .. hexprefix, '(' .. hexprefix .. 'g' end
local live = {}
while true do
  -- A negative count is no limit.
  local want = limit and limit - #live or -1
  if want == 0 then break end
  local page = call(lex, 'ZRANGEBYLEX', lex, lo, hi, 'LIMIT', 0, int(want))
  for _, m in ipairs(page) do
    local nul = string.find(m, '\\0', 1, true)
    if not nul then corrupt(lex, 'has a member without NUL') end
    local key = string.sub(m, nul + 1)
    local cur = current(kprefix .. key, now)
    if cur == 0 then
      redis.call('ZREM', idx, key)
      redis.call('ZREM', lex, m)
    else
      live[#live + 1] = {key, cur}
    end
  end
  if want < 0 or #page < want then break end
  lo = '(' .. page[#page]
end
if call(idx, 'ZCARD', idx) == 0 then
  call(scopes, 'SREM', scopes, scope)
  redis.call('DEL', lex)
end
local out = {}
for _, e in ipairs(live) do
  local m = e[1]
  if full then
    local k = kprefix .. m
    local h = call(k, 'HMGET', k, 'value', 'updated_at', 'updated_by', 'expires_at', 'held_by')
    if not h[1] then corrupt(k, 'has no value field') end
    if not h[2] then corrupt(k, 'has no updated_at field') end
    local n = #out
    out[n + 1] = m
    out[n + 2] = h[1]
    out[n + 3] = int(e[2])
    out[n + 4] = h[2]
    out[n + 5] = h[3]
    out[n + 6] = h[4]
    out[n + 7] = h[5]
  else
    out[#out + 1] = m
  end
end
return out
`,
);

/**
 * Which of the given scopes hold a live key; drops dead ones from the scopes
 * set and purges their stale members from both indexes.
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
  local idx, lex = prefix .. 'i:' .. scope, prefix .. 'l:' .. scope
  local members = redis.pcall('ZRANGEBYSCORE', idx, '(' .. ARGV[1], '+inf')
  local lexed = redis.pcall('ZCARD', lex)
  if (type(members) == 'table' and members.err) or (type(lexed) == 'table' and lexed.err) then
    -- A damaged index is listed, like the file adapter lists a corrupt
    -- file: the user sees the scope and meets CORRUPT_STATE reading it.
    out[#out + 1] = scope
  else
    purge_expired(idx, lex, ARGV[1])
    local live = false
    for _, m in ipairs(members) do
      if redis.call('EXISTS', prefix .. 'k:' .. scope .. '\\0' .. m) == 1 then
        live = true
        break
      end
      redis.call('ZREM', idx, m)
      redis.call('ZREM', lex, lex_member(m))
    end
    if live then
      out[#out + 1] = scope
    elseif redis.call('ZCARD', idx) == 0 then
      redis.call('SREM', scopes, scope)
      redis.call('DEL', lex)
    end
  end
end
return out
`,
);

/**
 * Deletes a scope's value hashes and both indexes, if its guard holds. The
 * version counter stays, so versions after a delete_scope still only grow.
 * Tolerates damaged data (it is the way to get rid of it).
 * KEYS: index, lexicographic index, scopes set, [guard value hash, when
 *       ARGV[5] ~= ''].
 * ARGV: now ms, value-key prefix of the scope, scope, change channel, guard
 *       field ('' = no guard), guard equals.
 * Returns {1, 1} when the scope held a live key, {1, 0} when not, {2} when
 * the guard does not hold. Publishes the scope when it had an index.
 */
export const DELETE_SCOPE: LuaScript = script(
  "delete_scope",
  `
local idx, lex, scopes = KEYS[1], KEYS[2], KEYS[3]
local now, kprefix, scope, channel = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
if ARGV[5] ~= '' and not guard_holds(KEYS[4], ARGV[5], ARGV[6], now) then return {2} end
local live = 0
-- Value hashes are found only through the index, so no index, nothing to delete.
if redis.call('EXISTS', idx) == 1 then redis.call('PUBLISH', channel, scope) end
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
redis.call('DEL', idx, lex)
redis.call('SREM', scopes, scope)
return {1, live}
`,
);

/**
 * The start-up check: run with EVAL and then EVALSHA (so both are known to be
 * allowed), it asks the ACL whether this user may run every command the
 * adapter sends, on keys and the channel of its prefix, without running
 * them. Redis before 7.0 cannot be asked (no redis.acl_check_cmd); there it
 * publishes one empty message on the change channel, which every feed ignores.
 * KEYS: a value hash, an index, a lexicographic index, a meta hash, the
 * scopes set (names under the prefix; they need not exist). ARGV: change
 * channel.
 * Returns the names of the commands this user may not run there.
 */
export const PROBE: LuaScript = script(
  "probe",
  `
local k, idx, lex, meta, scopes, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1]
local missing = {}
if redis.acl_check_cmd then
  local checks = {
    {'hmget', k, 'value'}, {'hget', k, 'value'}, {'exists', k}, {'del', k},
    {'hset', k, 'value', 'v'}, {'pexpireat', k, '0'},
    {'zadd', idx, '0', 'm'}, {'zrem', idx, 'm'}, {'zcard', idx}, {'zrange', idx, '0', '-1'},
    {'zrangebyscore', idx, '0', '1'}, {'zremrangebyscore', idx, '0', '1'},
    {'zadd', lex, '0', 'm'}, {'zrem', lex, 'm'}, {'zrangebylex', lex, '-', '+'},
    {'hget', meta, 'seq'}, {'hset', meta, 'seq', '1'},
    {'sadd', scopes, 's'}, {'srem', scopes, 's'}, {'scard', scopes}, {'sscan', scopes, '0'},
    {'publish', channel, ''}, {'subscribe', channel},
  }
  local seen = {}
  for _, c in ipairs(checks) do
    if not seen[c[1]] and not redis.acl_check_cmd(unpack(c)) then
      seen[c[1]] = true
      missing[#missing + 1] = c[1]
    end
  end
else
  local r = redis.pcall('PUBLISH', channel, '')
  if type(r) == 'table' and r.err then missing[1] = 'publish' end
end
return missing
`,
);
