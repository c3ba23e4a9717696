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
-- @include admit
return admit(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
