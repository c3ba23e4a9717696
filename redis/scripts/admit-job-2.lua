--[[
  Admit one job creation of a tenant: a token bucket for creations per second, then a cap on
  the tenant's jobs in flight.
  KEYS[1] bucket    HASH  tokens, ts (ms) of the tenant's creation bucket
  KEYS[2] inflight  ZSET  job id -> time (ms) after which it no longer counts
  ARGV[1] now (ms)  ARGV[2] rate (creations per second)  ARGV[3] burst (bucket size)
  ARGV[4] max jobs in flight  ARGV[5] job id  ARGV[6] expiry of the job's place (ms)
  Returns: {1, 0} admitted;
           {E.RATE_LIMITED, ms} over the rate: retry after ms;
           {E.IN_FLIGHT_FULL, n} n jobs already in flight (the cap).
  E.*: the error table of redis/codes.ts, defined in front of the script by redis/scripts.ts.
]]
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
if tokens < 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
  return { E.RATE_LIMITED, math.ceil((1 - tokens) * 1000 / rate) }
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local n = redis.call('ZCARD', KEYS[2])
if n >= tonumber(ARGV[4]) then return { E.IN_FLIGHT_FULL, n } end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[5])
redis.call('PEXPIREAT', KEYS[2], redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2])
return { 1, 0 }
