--[[
  Register a builder (or renew its lease and refresh what it advertises).
  KEYS[1] leases  KEYS[2] load  KEYS[3] slots  KEYS[4] warmof  KEYS[5] free  KEYS[6] drained
  KEYS[7] selfdrain  KEYS[8] names  KEYS[9] builders (HASH bid -> BuilderInfo JSON)   (the platform's hash tag)
  ARGV[1] builder id  ARGV[2] BuilderInfo JSON  ARGV[3] lease expiry (ms)  ARGV[4] now (ms)
  ARGV[5] "new" to register, "renew" to heartbeat  ARGV[6] slots  ARGV[7] warm digests, space
  separated  ARGV[8] "1" when the builder itself is draining  ARGV[9] warm ZSET prefix
  ARGV[10] the builder's name (what an admin's drain names)
  Returns: 1 ok; E.LEASE_LOST (renew only) the lease had already expired or was removed: the
  builder's jobs have been placed elsewhere, so it must register again as new.
  An admin's drain (the drained HASH, by name) is the farm's: a heartbeat never overwrites it.
]]
local R = { leases = KEYS[1], load = KEYS[2], slots = KEYS[3], warmof = KEYS[4], free = KEYS[5],
      drained = KEYS[6], selfdrain = KEYS[7], names = KEYS[8] }
local WARM = ARGV[9]
-- @include free-set
local bid, now = ARGV[1], tonumber(ARGV[4])
if ARGV[5] == 'renew' then
  local exp = redis.call('ZSCORE', R.leases, bid)
  if not exp or tonumber(exp) < now then return E.LEASE_LOST end
end
-- Leave the warm sets of toolchains no longer advertised before recording the new list.
unfree(bid)
redis.call('ZADD', R.leases, ARGV[3], bid)
redis.call('HSET', KEYS[9], bid, ARGV[2])
redis.call('HSET', R.names, bid, ARGV[10])
redis.call('HSETNX', R.load, bid, 0)
redis.call('HSET', R.slots, bid, ARGV[6])
redis.call('HSET', R.warmof, bid, ARGV[7])
if ARGV[8] == '1' then redis.call('HSET', R.selfdrain, bid, 1) else redis.call('HDEL', R.selfdrain, bid) end
refree(bid, now)
return 1
