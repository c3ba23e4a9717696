--[[
  Register a builder (or renew its lease and refresh its info).
  KEYS[1] leases  KEYS[2] builders  KEYS[3] load
  ARGV[1] builder id  ARGV[2] BuilderInfo JSON  ARGV[3] lease expiry (ms)  ARGV[4] now (ms)
  ARGV[5] "new" to register, "renew" to heartbeat
  Returns: 1 ok; E.LEASE_LOST (renew only) the lease had already expired or was removed: the builder must
  stop pulling, because its jobs have been placed elsewhere.
  E.*: the error table of redis/codes.ts, defined in front of the script by redis/scripts.ts.
]]
if ARGV[5] == 'renew' then
  local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not exp or tonumber(exp) < tonumber(ARGV[4]) then return E.LEASE_LOST end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSETNX', KEYS[3], ARGV[1], 0)
return 1
