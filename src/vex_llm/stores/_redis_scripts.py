"""The Lua scripts behind ``RedisStore``: the rules of ``circuit/machine.py``, in Redis.

Each store operation is one script, so each is atomic on the server: no other client
can see or change a circuit half-way through an admission or a transition. The scripts
share one prelude (loading, validating and saving a circuit) and differ in their body.

Keys (one hash tag per circuit, so Redis Cluster keeps them on one slot):

- ``KEYS[1]`` ``{<prefix>:<name>}:s`` HASH, the state: ``v`` (schema mark), ``inc``
  (incarnation token), ``gen``, ``st`` (0 closed, 1 open, 2 half-open), ``iso``, ``ou``
  (open until, server microseconds), ``oc`` (opens in this episode), ``cf`` (failure
  streak), ``cs`` (probe successes), ``nl`` (last lease id) and the counters.
- ``KEYS[2]`` ``{...}:p`` ZSET of probe lease ids scored by lease expiry (microseconds).
- ``KEYS[3]`` ``{...}:w`` HASH, the ratio-mode window (``sig`` names its shape).
- ``KEYS[4]`` ``{...}:x`` HASH from an admission's token (chosen by the client) to the
  lease it took, or ``0`` (a tombstone) for an admission its client gave up on before it
  ran: a client that timed out knows the token, so it can give the lease back (RELEASE
  with generation 0) whether the admission ran before or after that.

Time is the server's (``TIME``) plus ``ARGV[1]`` microseconds (0 except in tests that
move a shared circuit through time), so client clocks never matter. Every duration
that leaves a script is relative (microseconds from the script's ``now``).

Common ARGV: 1 time shift (us), 2 idle TTL (ms), 3 incarnation for a new state record,
4 calls admitted locally (from the closed-state cache) to add to the count.

Every script returns the same flat reply (see ``Reply``): the state after the operation,
the transition the operation made (if any), and the operation's own result.
"""

from __future__ import annotations

from typing import Final

PRELUDE: Final = r"""
local KS, KP, KW, KX = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2]) + tonumber(ARGV[1])
local IDLE_MS = tonumber(ARGV[2])
local PENDING = tonumber(ARGV[4])
local MARK = 'vex1'
local FIELDS = {'gen', 'st', 'iso', 'ou', 'oc', 'cf', 'cs', 'nl',
                'req', 'fail', 'opens', 'rej', 'ign', 'stale', 'slow'}
-- 1: the state record was unreadable and was reset; 2: the window was; 3: the leases.
local corrupt = 0
local existed = true
local tr = {-1, -1, -1, 0, -1, 0}
local s

local function I(x) return string.format('%d', x) end

local function fresh()
  local t = {inc = ARGV[3]}
  for _, f in ipairs(FIELDS) do t[f] = 0 end
  t.gen = 1
  return t
end

local function finite(n) return n ~= nil and n == n and n ~= math.huge and n ~= -math.huge end

local function load()
  local kind = redis.call('TYPE', KS)['ok']
  if kind == 'hash' then
    local raw = redis.call('HMGET', KS, 'v', 'inc', unpack(FIELDS))
    if raw[1] == MARK and type(raw[2]) == 'string' and raw[2] ~= '' then
      local t = {inc = raw[2]}
      local ok = true
      for i, f in ipairs(FIELDS) do
        local n = tonumber(raw[i + 2])
        if not finite(n) or n < 0 or n ~= math.floor(n) then ok = false; break end
        t[f] = n
      end
      if ok and t.st <= 2 and t.iso <= 1 and t.gen >= 1 then return t end
    end
  end
  if kind ~= 'none' then
    corrupt = 1
  else
    local pk = redis.call('TYPE', KP)['ok']
    local wk = redis.call('TYPE', KW)['ok']
    if (pk ~= 'none' and pk ~= 'zset') or (wk ~= 'none' and wk ~= 'hash') then corrupt = 1 end
  end
  -- A new record: leases and windows left from an older incarnation go with it.
  redis.call('DEL', KS, KP, KW)
  existed = false
  return fresh()
end

local function save()
  local args = {'v', MARK, 'inc', s.inc}
  for _, f in ipairs(FIELDS) do
    args[#args + 1] = f
    args[#args + 1] = I(s[f])
  end
  redis.call('HSET', KS, unpack(args))
  -- A circuit isolated by hand keeps its record until someone closes it; anything
  -- else expires after IDLE_MS without traffic.
  if s.iso == 1 then redis.call('PERSIST', KS) else redis.call('PEXPIRE', KS, IDLE_MS) end
  redis.call('PEXPIRE', KP, IDLE_MS)
  redis.call('PEXPIRE', KW, IDLE_MS)
end

-- The lease set and the window are checked where they are used (a closed-state
-- admission touches neither): a key of the wrong type is dropped and reported.
local function sane(key, want, code)
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'none' and kind ~= want then
    redis.call('DEL', key)
    corrupt = code
  end
end

local function clear()
  s.cf = 0
  s.cs = 0
  redis.call('DEL', KP, KW)
end

local function transition(from, to, reason, manual)
  local ou = -1
  if to == 1 and s.iso == 0 then ou = s.ou - now end
  tr = {from, to, s.gen, reason, ou, manual}
end

local function advance()
  if s.st == 1 and s.iso == 0 and now >= s.ou then
    clear()
    s.gen = s.gen + 1
    s.st = 2
    transition(1, 2, 5, 0)
    return true
  end
  return false
end

-- One space-separated string: far cheaper for a client to parse than a 26-item array.
local function reply(result, lease, reject, reject_after)
  local ou = -1
  if s.st == 1 and s.iso == 0 then ou = math.max(0, s.ou - now) end
  local inc = s.inc
  if not existed then inc = '-' end
  local leases = 0
  if s.st == 2 then
    sane(KP, 'zset', 3)
    leases = redis.call('ZCARD', KP)
  end
  return table.concat({I(result), I(s.st), I(s.gen), inc, I(s.cf), I(s.iso), I(s.oc), I(ou),
    I(corrupt), I(tr[1]), I(tr[2]), I(tr[3]), I(tr[4]), I(tr[5]), I(tr[6]), I(lease),
    I(reject), I(reject_after), I(s.req), I(s.fail), I(s.opens), I(s.rej), I(s.ign),
    I(s.stale), I(s.slow), I(leases)}, ' ')
end
"""

ACQUIRE: Final = (
    PRELUDE
    + r"""
-- ARGV 5: probe budget, 6: probe lease TTL (us), 7: this admission's token
local budget, lease_ttl, token = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
s = load()
local was = existed and corrupt == 0
existed = true
advance()
s.req = s.req + PENDING
if s.st == 0 then
  s.req = s.req + 1
  if was then
    -- The hot path: a closed circuit only counts the call and stays alive.
    redis.call('HINCRBY', KS, 'req', 1 + PENDING)
    redis.call('PEXPIRE', KS, IDLE_MS)
  else
    save()
  end
  return reply(1, 0, 0, -1)
end
if s.st == 1 then
  s.rej = s.rej + 1
  save()
  if s.iso == 1 then return reply(0, 0, 3, -1) end
  return reply(0, 0, 1, s.ou - now)
end
-- A probe that never reported frees its slot once its lease is over.
sane(KP, 'zset', 3)
redis.call('ZREMRANGEBYSCORE', KP, '-inf', I(now))
sane(KX, 'hash', 3)
if redis.call('HGET', KX, token) == '0' then
  -- The client gave this admission up before it ran here (see RELEASE): no slot for it.
  redis.call('HDEL', KX, token)
  s.ign = s.ign + 1
  save()
  return reply(0, 0, 2, 0)
end
if redis.call('ZCARD', KP) < budget then
  s.nl = s.nl + 1
  s.req = s.req + 1
  redis.call('ZADD', KP, I(now + lease_ttl), I(s.nl))
  redis.call('HSET', KX, token, I(s.nl))
  redis.call('PEXPIRE', KX, math.floor(lease_ttl / 1000) + 1)
  save()
  return reply(1, s.nl, 0, -1)
end
s.rej = s.rej + 1
save()
local first = redis.call('ZRANGE', KP, 0, 0, 'WITHSCORES')
return reply(0, 0, 2, math.max(0, tonumber(first[2]) - now))
"""
)

# Config ARGV shared by ``record``: see ``RedisStore._config_args`` for the order.
_CONFIG: Final = r"""
local function config(i)
  return {
    mode = ARGV[i], threshold = tonumber(ARGV[i + 1]), success = tonumber(ARGV[i + 2]),
    reset = tonumber(ARGV[i + 3]), mult = tonumber(ARGV[i + 4]), cap = tonumber(ARGV[i + 5]),
    jitter = tonumber(ARGV[i + 6]), ra_policy = ARGV[i + 7], trip_min = tonumber(ARGV[i + 8]),
    window = ARGV[i + 9], size = tonumber(ARGV[i + 10]), wsec = tonumber(ARGV[i + 11]),
    buckets = tonumber(ARGV[i + 12]), minimum = tonumber(ARGV[i + 13]),
    rate = tonumber(ARGV[i + 14]), slow_rate = tonumber(ARGV[i + 15]),
  }
end

-- _machine.open_duration, in seconds: cap first, then downward jitter, then the hint.
local function open_duration(C, oc, u, ra)
  local exponent = math.max(0, oc - 1)
  local base
  if C.mult == 1 or exponent == 0 then
    base = C.reset
  elseif exponent * math.log(C.mult) >= math.log(C.cap / C.reset) then
    base = C.cap
  else
    base = C.reset * C.mult ^ exponent
  end
  local d = math.min(base, C.cap) * (1 - C.jitter * u)
  if ra ~= nil and C.ra_policy ~= 'ignore' then d = math.max(d, math.min(ra, C.cap)) end
  return d
end

local function trip(C, reason, ra, u)
  local prev = s.st
  s.oc = s.oc + 1
  s.opens = s.opens + 1
  s.ou = now + math.floor(open_duration(C, s.oc, u, ra) * 1000000)
  s.iso = 0
  clear()
  s.gen = s.gen + 1
  s.st = 1
  transition(prev, 1, reason, 0)
end

local function close(reason, manual)
  local prev = s.st
  s.oc = 0
  s.iso = 0
  clear()
  s.gen = s.gen + 1
  s.st = 0
  transition(prev, 0, reason, manual)
end

local function window_reset(sig)
  redis.call('DEL', KW)
  redis.call('HSET', KW, 'sig', sig)
end

-- Count window: ring slots r<i> hold codes (1 failed, 2 slow), with running totals.
local function count_add(C, code)
  local w = redis.call('HMGET', KW, 'n', 'pos', 'f', 's')
  local n, pos, f, sl = tonumber(w[1]) or 0, tonumber(w[2]) or 0, tonumber(w[3]) or 0,
    tonumber(w[4]) or 0
  if n < 0 or n > C.size or pos < 0 or pos >= C.size or f < 0 or f > n or sl < 0 or sl > n then
    corrupt = 2
    window_reset('c' .. I(C.size))
    n, pos, f, sl = 0, 0, 0, 0
  end
  if n < C.size then
    redis.call('HSET', KW, 'r' .. I(n), code)
    n = n + 1
  else
    local old = tonumber(redis.call('HGET', KW, 'r' .. I(pos)))
    if old == nil or old < 0 or old > 3 then old = 0; corrupt = 2 end
    f = f - old % 2
    sl = sl - math.floor(old / 2)
    redis.call('HSET', KW, 'r' .. I(pos), code)
    pos = (pos + 1) % C.size
  end
  f = math.max(0, f + code % 2)
  sl = math.max(0, sl + math.floor(code / 2))
  redis.call('HSET', KW, 'n', I(n), 'pos', I(pos), 'f', I(f), 's', I(sl))
  return n, f, sl
end

-- Time window: bucket slots b<i> hold "index:calls:failed:slow"; a bucket counts while
-- its index is one of the newest ``buckets`` (rolling, not tumbling).
local function time_add(C, code)
  local len = C.wsec * 1000000 / C.buckets
  local index = math.floor(now / len)
  local slot = 'b' .. I(index % C.buckets)
  local bi, c, f, sl = nil, 0, 0, 0
  local raw = redis.call('HGET', KW, slot)
  if raw then
    local a, b, d, e = string.match(raw, '^(%-?%d+):(%d+):(%d+):(%d+)$')
    if a then bi, c, f, sl = tonumber(a), tonumber(b), tonumber(d), tonumber(e)
    else corrupt = 2 end
  end
  if bi ~= index then c, f, sl = 0, 0, 0 end
  c = c + 1
  f = f + code % 2
  sl = sl + math.floor(code / 2)
  redis.call('HSET', KW, slot, I(index) .. ':' .. I(c) .. ':' .. I(f) .. ':' .. I(sl))
  local oldest = index - C.buckets + 1
  local calls, failed, slow = 0, 0, 0
  local all = redis.call('HGETALL', KW)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 1) == 'b' then
      local a, b, d, e = string.match(all[i + 1], '^(%-?%d+):(%d+):(%d+):(%d+)$')
      if a and tonumber(a) >= oldest and tonumber(a) <= index then
        calls = calls + tonumber(b)
        failed = failed + tonumber(d)
        slow = slow + tonumber(e)
      end
    end
  end
  return calls, failed, slow
end

local function window_add(C, failed, slow)
  local code = (failed and 1 or 0) + (slow and 2 or 0)
  local sig
  if C.window == 'count' then
    sig = 'c' .. I(C.size)
  else
    sig = 't' .. tostring(C.wsec) .. ':' .. I(C.buckets)
  end
  sane(KW, 'hash', 2)
  -- A window of another shape (the config changed) starts over.
  if redis.call('HGET', KW, 'sig') ~= sig then window_reset(sig) end
  if C.window == 'count' then return count_add(C, code) end
  return time_add(C, code)
end
"""

RECORD: Final = (
    PRELUDE
    + _CONFIG
    + r"""
-- ARGV 5: ticket incarnation, 6: ticket generation, 7: lease, 8: failed (1/0),
-- 9: slow (1/0), 10: Retry-After seconds ('' for none), 11: jitter sample u, 12..: config
local t_inc, t_gen, lease = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local failed, slow = ARGV[8] == '1', ARGV[9] == '1'
local ra = nil
if ARGV[10] ~= '' then ra = tonumber(ARGV[10]) end
local u = tonumber(ARGV[11])
local C = config(12)
s = load()
existed = true
s.req = s.req + PENDING
if t_inc ~= s.inc or t_gen ~= s.gen then
  -- The breaker moved on while this call ran: no state change, except that a provider's
  -- Retry-After may lengthen (never shorten) the current open period.
  s.stale = s.stale + 1
  if failed and ra ~= nil and C.ra_policy ~= 'ignore' and s.st == 1 and s.iso == 0 then
    s.ou = math.max(s.ou, now + math.floor(math.min(ra, C.cap) * 1000000))
  end
  save()
  return reply(0, 0, 0, -1)
end
if s.st == 1 then
  save()
  return reply(1, 0, 0, -1)
end
if failed then s.fail = s.fail + 1 end
if slow then s.slow = s.slow + 1 end
if s.st == 2 then
  sane(KP, 'zset', 3)
  if lease > 0 then redis.call('ZREM', KP, I(lease)) end
  if failed or slow then
    local hint = nil
    if failed then hint = ra end
    trip(C, 6, hint, u)
  else
    s.cs = s.cs + 1
    if s.cs >= C.success then close(7, 0) end
  end
  save()
  return reply(1, 0, 0, -1)
end
if failed and ra ~= nil and C.ra_policy == 'trip' and ra >= C.trip_min then
  trip(C, 4, ra, u)
elseif C.mode == 'consecutive' then
  if failed or slow then
    s.cf = s.cf + 1
    if s.cf >= C.threshold then trip(C, 1, ra, u) end
  else
    s.cf = 0
  end
else
  if failed then s.cf = s.cf + 1 else s.cf = 0 end
  local calls, nf, ns = window_add(C, failed, slow)
  if calls >= C.minimum then
    if nf / calls >= C.rate then
      trip(C, 2, ra, u)
    elseif ns / calls >= C.slow_rate then
      trip(C, 3, nil, u)
    end
  end
end
save()
return reply(1, 0, 0, -1)
"""
)

RELEASE: Final = (
    PRELUDE
    + r"""
-- ARGV 5: ticket incarnation, 6: ticket generation (0: an abandoned admission), 7: lease
-- (for an abandoned admission: its token), 8: for an abandoned admission, the probe
-- lease TTL (us), as long as its tombstone must last
local t_inc, t_gen, lease = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
s = load()
existed = true
s.req = s.req + PENDING
if t_gen == 0 then
  -- The client timed out waiting for an admission that may or may not have run here:
  -- free the lease it took, or leave a tombstone so that it takes none if it runs later.
  sane(KP, 'zset', 3)
  sane(KX, 'hash', 3)
  local token = ARGV[7]
  local taken = redis.call('HGET', KX, token)
  if taken and taken ~= '0' then
    if redis.call('ZREM', KP, taken) == 1 then s.ign = s.ign + 1 end
    redis.call('HDEL', KX, token)
  else
    redis.call('HSET', KX, token, '0')
    redis.call('PEXPIRE', KX, math.floor(tonumber(ARGV[8]) / 1000) + 1)
  end
  save()
  return reply(1, 0, 0, -1)
end
if t_inc ~= s.inc or t_gen ~= s.gen then
  s.stale = s.stale + 1
  save()
  return reply(0, 0, 0, -1)
end
if s.st ~= 1 then
  s.ign = s.ign + 1
  sane(KP, 'zset', 3)
  if lease > 0 then redis.call('ZREM', KP, I(lease)) end
end
save()
return reply(1, 0, 0, -1)
"""
)

FORCE: Final = (
    PRELUDE
    + r"""
-- ARGV 5: action (isolate, open, close, reset), 6: seconds to stay open (for open)
local action, seconds = ARGV[5], tonumber(ARGV[6])
s = load()
existed = true
s.req = s.req + PENDING
local prev = s.st
local function shut(reason)
  s.oc = 0
  s.iso = 0
  clear()
  s.gen = s.gen + 1
  s.st = 0
  transition(prev, 0, reason, 1)
end
if action == 'close' then
  if prev ~= 0 then shut(8) end
elseif action == 'reset' then
  shut(9)
  s.req, s.fail, s.opens, s.rej, s.ign, s.stale, s.slow = 0, 0, 0, 0, 0, 0, 0
  -- A reset always starts a new generation, but only a real change is a transition.
  if prev == 0 then tr = {-1, -1, -1, 0, -1, 0} end
elseif action == 'isolate' then
  if not (prev == 1 and s.iso == 1) then
    clear()
    s.iso = 1
    s.gen = s.gen + 1
    s.st = 1
    transition(prev, 1, 8, 1)
  end
else
  s.ou = now + math.floor(seconds * 1000000)
  if not (prev == 1 and s.iso == 0) then
    clear()
    s.iso = 0
    s.gen = s.gen + 1
    s.st = 1
    transition(prev, 1, 8, 1)
  end
end
save()
return reply(1, 0, 0, -1)
"""
)

SNAPSHOT: Final = (
    PRELUDE
    + r"""
s = load()
local moved = advance()
-- A read writes only when it has something to write: a reader never creates a record.
if moved or PENDING > 0 or corrupt ~= 0 then
  existed = true
  s.req = s.req + PENDING
  save()
end
return reply(1, 0, 0, -1)
"""
)

REASONS: Final = (
    "",
    "failure_threshold",
    "failure_rate",
    "slow_call_rate",
    "retry_after",
    "reset_timeout",
    "probe_failed",
    "probes_succeeded",
    "manual",
    "reset",
)
"""Transition reason codes used by the scripts (index -> ``TransitionReason``)."""

REJECT_REASONS: Final = ("", "open", "half_open_full", "isolated")
"""Rejection reason codes used by ``ACQUIRE``."""
