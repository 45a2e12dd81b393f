/**
 * Lua scripts of the Redis store. Every script touches keys of one hash tag only, so each runs
 * atomically on one node of a Redis Cluster too.
 */

/**
 * Rate-limit counters of a client's requests carry its slot tag too, so a grant's script can charge them
 * (CREATE_FAMILY, ROTATE: see `charged` at the end).
 */

/**
 * KEYS: family, the client's family index (one hash tag: the client's slot tag); then rate-limit counters.
 * ARGV: client, scope, aud, created_at, public, token hash, now, ttl ms, DPoP jkt ('' = unbound), family id,
 *       cap (0 = none),
 *       prune (families started at or before it are past their max age), max age ms,
 *       family key prefix (`…family:{tag}:`); then the charge's (see CHARGE).
 * Starts the family and, beyond the cap, revokes the client's oldest families. The index is a sorted set
 * of family ids by start time; entries whose family is gone (idle expiry) leave it when they reach its
 * head or their max age. An evicted family's key is built from the prefix: it has the same hash tag, so
 * on a Cluster it lives on this node. Returns the evicted family ids.
 */
const CREATE_FAMILY_STEPS = `
redis.call('HSET', KEYS[1], 'c', ARGV[1], 's', ARGV[2], 'a', ARGV[3], 't0', ARGV[4], 'p', ARGV[5], 'cur', ARGV[6], 'tu', ARGV[7])
if ARGV[9] and ARGV[9] ~= '' then redis.call('HSET', KEYS[1], 'k', ARGV[9]) end
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[12])
local score = tonumber(ARGV[4])
local last = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if last[2] and tonumber(last[2]) > score then score = tonumber(last[2]) end
redis.call('ZADD', KEYS[2], score, ARGV[10])
redis.call('PEXPIRE', KEYS[2], ARGV[13])
local evicted = {}
local cap = tonumber(ARGV[11])
if cap > 0 then
  local excess = redis.call('ZCARD', KEYS[2]) - cap
  while excess > 0 do
    local oldest = redis.call('ZPOPMIN', KEYS[2])
    if redis.call('DEL', ARGV[14] .. oldest[1]) == 1 then evicted[#evicted + 1] = oldest[1] end
    excess = excess - 1
  end
end
return evicted
`;

/**
 * Spent tokens live in the family hash itself, not in a key of their own (a key costs ~200 bytes of
 * overhead in Redis): field `prev` is the token spent last, and each one spent before it is a field
 * `x<hash>`.
 */
const SPENT_CHECK = `
local function isSpent(f, hash)
  return f[8] == hash or redis.call('HEXISTS', KEYS[1], 'x' .. hash) == 1
end
`;

/**
 * KEYS: family; then rate-limit counters.
 * ARGV: presented hash, next hash, client id ('' = unauthenticated), requested scope ('' = keep),
 *       now, idle ttl, max age, grace (all ms), DPoP jkt of the request ('' = no proof),
 *       index key prefix (`…client-families:{tag}:`, + client id), family id; then the charge's (see CHARGE).
 * A family bound to a DPoP key (field k) rotates only for a proof with that key: else dpop_key_mismatch, nothing changed.
 * Returns {status, client, scope, aud, created_at, public, jkt}.
 */
const ROTATE_STEPS = `${SPENT_CHECK}
local f = redis.call('HMGET', KEYS[1], 'c', 's', 'a', 't0', 'p', 'cur', 'tu', 'prev', 'tr', 'k')
if not f[1] then return {'invalid'} end
local now, idle, maxAge, grace = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local created = tonumber(f[4])
local family = {f[1], f[2], f[3], f[4], f[5], f[10] or ''}
local function drop(status)
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', ARGV[10] .. f[1], ARGV[11])
  return {status, unpack(family)}
end
if now >= created + maxAge then return drop('invalid') end
if ARGV[3] == '' then
  if f[5] ~= '1' then return {'client_auth_required'} end
elseif ARGV[3] ~= f[1] then
  return {'invalid'}
end
local isCurrent = ARGV[1] == f[6]
local inGrace = (not isCurrent) and grace > 0 and f[8] and ARGV[1] == f[8] and now < tonumber(f[9]) + grace
if isCurrent or inGrace then
  if isCurrent and now >= tonumber(f[7]) + idle then return drop('invalid') end
  if ARGV[4] ~= '' then
    local have = {}
    for s in string.gmatch(f[2], '%S+') do have[s] = true end
    for s in string.gmatch(ARGV[4], '%S+') do
      if not have[s] then return {'invalid_scope'} end
    end
  end
  if f[10] and f[10] ~= (ARGV[9] or '') then return {'dpop_key_mismatch'} end
  if isCurrent then
    if f[8] then
      redis.call('HSET', KEYS[1], 'x' .. f[8], '', 'prev', f[6], 'tr', now, 'cur', ARGV[2], 'tu', now)
    else
      redis.call('HSET', KEYS[1], 'prev', f[6], 'tr', now, 'cur', ARGV[2], 'tu', now)
    end
  else
    redis.call('HSET', KEYS[1], 'x' .. f[6], '', 'cur', ARGV[2], 'tu', now)
  end
  redis.call('PEXPIRE', KEYS[1], math.min(idle, created + maxAge - now))
  return {'rotated', unpack(family)}
end
if isSpent(f, ARGV[1]) then return drop('reused') end
return {'invalid'}
`;

/** KEYS: family. ARGV: token hash. Returns {state, client, scope, aud, created_at, public, issued_at, jkt} or nil. */
export const FIND_REFRESH_TOKEN = `${SPENT_CHECK}
local f = redis.call('HMGET', KEYS[1], 'c', 's', 'a', 't0', 'p', 'cur', 'tu', 'prev', 'k')
if not f[1] then return nil end
local state
if ARGV[1] == f[6] then state = 'current'
elseif isSpent(f, ARGV[1]) then state = 'spent'
else return nil end
return {state, f[1], f[2], f[3], f[4], f[5], f[7], f[9] or ''}
`;

/** KEYS: family. ARGV: family id, index key prefix (+ client id). Deletes the family and its index entry. */
export const REVOKE_FAMILY = `
local c = redis.call('HGET', KEYS[1], 'c')
if not c then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[2] .. c, ARGV[1])
return 1
`;

/** KEYS: client family index. ARGV: family key prefix (`…family:{tag}:`). Deletes every family of the index and the index. */
export const DELETE_FAMILIES = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
for _, id in ipairs(ids) do n = n + redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return n
`;

/** KEYS: keyset. ARGV: expected version, new version, data. */
export const SAVE_KEYSET = `
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'data', ARGV[3])
return 1
`;

/** KEYS: client, client index. ARGV: client id, created_at, json. */
export const PUT_CLIENT = `
redis.call('SET', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
`;

/** KEYS: client, client index. ARGV: client id. */
export const DELETE_CLIENT = `
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
`;

/**
 * KEYS: single-use record. ARGV: expires_at, now (ms). The value is the expiry, compared with the caller's
 * clock; Redis's own expiry only cleans up. 1 when this call recorded it, 0 when it was still recorded.
 */
export const USE_ONCE = `
local recorded = tonumber(redis.call('GET', KEYS[1]) or '0')
if recorded > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[1])
return 1
`;

/** The most counters one charge may have: scripts always take this many counter keys (the unused ones are never touched). */
export const MAX_COUNTERS = 2;

/**
 * A rate-limit charge (Store.chargeRateLimits) as a Lua function: counter keys are the MAX_COUNTERS KEYS
 * from firstKey (a fixed number, so every call has the same key count and its first key is always a
 * counter of the caller's slot); ARGV[firstArg] is now (ms, the caller's clock), then the number
 * of counters used, then per counter: delta, window ms, refuse-at (0 = never).
 * A counter is a hash {n: hits, r: window end}; a window that has ended starts again, and the key expires
 * with its window. Returns the counts as a flat {hits, window end, ...} and whether one reached its refuse-at.
 */
const CHARGE = `
local function charge(firstKey, firstArg)
  local now, used = tonumber(ARGV[firstArg]), tonumber(ARGV[firstArg + 1])
  local counts, refused = {}, false
  for i = firstKey, firstKey + used - 1 do
    local a = firstArg + 2 + (i - firstKey) * 3
    local delta, window, refuseAt = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local c = redis.call('HMGET', KEYS[i], 'n', 'r')
    local hits, reset = tonumber(c[1]) or 0, tonumber(c[2])
    if reset == nil or reset <= now then
      hits, reset = 0, now + window
      if delta > 0 then
        redis.call('HSET', KEYS[i], 'n', 0, 'r', tostring(reset))
        redis.call('PEXPIRE', KEYS[i], window)
      end
    end
    if delta ~= 0 then hits = redis.call('HINCRBY', KEYS[i], 'n', delta) end
    counts[#counts + 1] = hits
    counts[#counts + 1] = tostring(reset)
    if refuseAt > 0 and hits >= refuseAt then refused = true end
  end
  return counts, refused
end
`;

/**
 * A grant script with a rate-limit charge in front, in the same atomic step: the counters are the KEYS
 * after the grant's own `keys`, and their ARGV (see CHARGE) follow the grant's own `args`. Returns
 * {refused (1|0), counts, the grant's result}; when refused the grant does not run.
 */
const charged = (grant: string, keys: number, args: number) => `${CHARGE}
local function grant()
${grant}
end
local counts, refused = charge(${keys + 1}, ${args + 1})
if refused then return {1, counts} end
return {0, counts, grant()}
`;

/** KEYS: counters. ARGV: see CHARGE. Returns {refused (1|0), counts}. */
export const CHARGE_RATE_LIMITS = `${CHARGE}
local counts, refused = charge(1, 1)
return {refused and 1 or 0, counts}
`;

export const CREATE_FAMILY = charged(CREATE_FAMILY_STEPS, 2, 14);
export const ROTATE = charged(ROTATE_STEPS, 1, 11);
