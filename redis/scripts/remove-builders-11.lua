--[[
  Remove builders of one platform from the registry and hand back the jobs they held: the jobs
  go into the platform's `replace` SET in the same step, so a gateway that dies right after this
  script loses nothing (every sweeper drains that set until each job is placed again or failed).
  KEYS[1] leases  KEYS[2] load  KEYS[3] slots  KEYS[4] warmof  KEYS[5] free  KEYS[6] drained
  KEYS[7] selfdrain  KEYS[8] names  KEYS[9] builders  KEYS[10] assign  KEYS[11] replace   (the platform's tag)
  ARGV[1] now (ms)  ARGV[2] a builder id to remove, or "" for those whose lease expired
  ARGV[3] warm ZSET prefix  ARGV[4] per-builder job SET prefix  ARGV[5] at most this many builders
  Returns: a flat list  bid, n, job1..jobn,  bid, n, ...
]]
local R = { leases = KEYS[1], load = KEYS[2], slots = KEYS[3], warmof = KEYS[4], free = KEYS[5],
      drained = KEYS[6], selfdrain = KEYS[7], names = KEYS[8] }
local WARM = ARGV[3]
-- @include free-set
local ids
if ARGV[2] ~= '' then
  ids = { ARGV[2] }
else
  ids = redis.call('ZRANGEBYSCORE', R.leases, '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[5]))
end
local out = {}
for _, bid in ipairs(ids) do
  unfree(bid)
  local jobsKey = ARGV[4] .. bid
  local jobs = redis.call('SMEMBERS', jobsKey)
  for _, j in ipairs(jobs) do
    redis.call('HDEL', KEYS[10], j)
    redis.call('SADD', KEYS[11], j)
  end
  redis.call('DEL', jobsKey)
  redis.call('ZREM', R.leases, bid)
  for _, h in ipairs({ KEYS[9], R.load, R.slots, R.warmof, R.selfdrain, R.names }) do redis.call('HDEL', h, bid) end
  out[#out + 1] = bid
  out[#out + 1] = #jobs
  for _, j in ipairs(jobs) do out[#out + 1] = j end
end
return out
