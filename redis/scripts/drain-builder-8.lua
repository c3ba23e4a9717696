--[[
  Set or clear an admin's drain of a builder NAME on one platform's registry: a draining builder
  gets no new job (it leaves the free structures at once) and keeps running what it has; the mark
  is kept by name, so it holds across the agent's restarts until cleared. The gateway writes it
  to every platform's registry (a name's platform may not be known yet).
  KEYS[1] leases  KEYS[2] load  KEYS[3] slots  KEYS[4] warmof  KEYS[5] free  KEYS[6] drained
  KEYS[7] selfdrain  KEYS[8] names            (all under the platform's hash tag)
  ARGV[1] builder name  ARGV[2] drain mark JSON to set (an earlier mark is kept), or "" to clear
  ARGV[3] now (ms)  ARGV[4] warm ZSET prefix
  Returns: setting: the mark in force (JSON); clearing: 1 cleared, 0 the name was not drained.
]]
local R = { leases = KEYS[1], load = KEYS[2], slots = KEYS[3], warmof = KEYS[4], free = KEYS[5],
      drained = KEYS[6], selfdrain = KEYS[7], names = KEYS[8] }
local WARM = ARGV[4]
-- @include free-set
local reply
if ARGV[2] ~= '' then
  redis.call('HSETNX', R.drained, ARGV[1], ARGV[2])
  reply = redis.call('HGET', R.drained, ARGV[1])
else
  reply = redis.call('HDEL', R.drained, ARGV[1])
end
-- Admin operations are rare: finding the builders of a name by a walk is fine here.
local all = redis.call('HGETALL', R.names)
for i = 1, #all, 2 do
  if all[i + 1] == ARGV[1] then refree(all[i], tonumber(ARGV[3])) end
end
return reply
