--[[
  Give back the slot a job held on a builder, once.
  KEYS[1] leases  KEYS[2] load  KEYS[3] slots  KEYS[4] warmof  KEYS[5] free  KEYS[6] drained
  KEYS[7] selfdrain  KEYS[8] names  KEYS[9] assign          (all under the platform's hash tag)
  ARGV[1] job id  ARGV[2] builder id  ARGV[3] now (ms)  ARGV[4] warm ZSET prefix
  ARGV[5] per-builder job SET prefix
  Returns: 1 released; 0 the job was not assigned to that builder (already released or moved).
]]
local R = { leases = KEYS[1], load = KEYS[2], slots = KEYS[3], warmof = KEYS[4], free = KEYS[5],
      drained = KEYS[6], selfdrain = KEYS[7], names = KEYS[8] }
local WARM = ARGV[4]
-- @include free-set
if redis.call('HGET', KEYS[9], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[9], ARGV[1])
redis.call('SREM', ARGV[5] .. ARGV[2], ARGV[1])
if redis.call('HEXISTS', R.load, ARGV[2]) == 1 then
  local n = redis.call('HINCRBY', R.load, ARGV[2], -1)
  if n < 0 then redis.call('HSET', R.load, ARGV[2], 0) end
  refree(ARGV[2], tonumber(ARGV[3]))
end
return 1
