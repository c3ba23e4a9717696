--[[
  Included by admit-job-2.lua and admit-place-job-12.lua: admission of one job creation of a
  tenant, a token bucket for creations per second, then a cap on the tenant's jobs in flight.
  admit(bucket, inflight, now, rate, burst, cap, jobId, untilMs), its arguments as KEYS[1..2] and
  ARGV[1..6] of admit-job-2.lua; answers as admit-job-2.lua does.
]]
local function admit(bucket, inflight, nowArg, rateArg, burstArg, capArg, jobId, untilArg)
  local now, rate, burst = tonumber(nowArg), tonumber(rateArg), tonumber(burstArg)
  local b = redis.call('HMGET', bucket, 'tokens', 'ts')
  local tokens, ts = tonumber(b[1]) or burst, tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
  if tokens < 1 then
    redis.call('HSET', bucket, 'tokens', tostring(tokens), 'ts', nowArg)
    redis.call('PEXPIRE', bucket, math.ceil(burst * 1000 / rate) + 1000)
    return { E.RATE_LIMITED, math.ceil((1 - tokens) * 1000 / rate) }
  end
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', nowArg)
  local n = redis.call('ZCARD', inflight)
  if n >= tonumber(capArg) then return { E.IN_FLIGHT_FULL, n } end
  redis.call('HSET', bucket, 'tokens', tostring(tokens - 1), 'ts', nowArg)
  redis.call('PEXPIRE', bucket, math.ceil(burst * 1000 / rate) + 1000)
  redis.call('ZADD', inflight, untilArg, jobId)
  redis.call('PEXPIREAT', inflight, redis.call('ZRANGE', inflight, -1, -1, 'WITHSCORES')[2])
  return { 1, 0 }
end
