"""The Lua scripts behind ``RedisBuckets``: the GCRA of ``_gcra.py``, atomic on the server.

Keys: one string per bucket, ``{<prefix>:rl:<group>}:<name>``, holding the bucket's
theoretical arrival time in server seconds (``%.6f``). The hash tag is the group (one
provider), so every bucket one call charges lives on one Redis Cluster slot. A key
expires one second after its bucket is full again (a missing key is a full bucket).

Time is the server's (``TIME``) plus ``ARGV[1]`` microseconds (0 except in tests), so
client clocks never matter; every duration in and out is relative, in seconds.

RESERVE: ``ARGV[2]`` the longest wait accepted; then per key ``interval``, ``burst``,
``cost``. Charges every key or none; returns ``{admitted (0/1), wait (text)}``.

SETTLE: per key ``delta`` (seconds to add: negative refunds), ``floor`` (seconds after
now before which the bucket cannot be full, or ``""``). Returns 1.
"""

from __future__ import annotations

from typing import Final

_PRELUDE: Final = r"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000 + tonumber(ARGV[1]) / 1000000

local function tat_of(key)
  local raw = redis.call('GET', key)
  local tat = raw and tonumber(raw) or nil
  if tat == nil or tat ~= tat or tat == math.huge or tat == -math.huge then
    return nil  -- missing or unreadable: a full bucket
  end
  return tat
end

local function save(key, tat)
  if tat > now then
    redis.call('SET', key, string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
  else
    redis.call('DEL', key)
  end
end
"""

RESERVE: Final = (
    _PRELUDE
    + r"""
local max_wait = tonumber(ARGV[2])
local wait = 0
local new = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[3 * i])
  local burst = tonumber(ARGV[3 * i + 1])
  local cost = tonumber(ARGV[3 * i + 2])
  local tat = tat_of(KEYS[i])
  local start = now
  if tat ~= nil and tat > now then start = tat end
  new[i] = start + cost * interval
  local w = new[i] - burst * interval - now
  if w > wait then wait = w end
end
if wait > max_wait + 1e-9 then  -- rounding forgiven, as _gcra.EPSILON
  return {0, string.format('%.6f', wait)}
end
for i = 1, #KEYS do save(KEYS[i], new[i]) end
return {1, string.format('%.6f', wait)}
"""
)

SETTLE: Final = (
    _PRELUDE
    + r"""
for i = 1, #KEYS do
  local delta = tonumber(ARGV[2 * i])
  local floor = tonumber(ARGV[2 * i + 1])
  local tat = tat_of(KEYS[i]) or now
  local new = tat + delta
  if floor ~= nil and now + floor > new then new = now + floor end
  save(KEYS[i], new)
end
return 1
"""
)
