--[[
  Record a job's result: compare-and-set on the attempt and builder, so a late duplicate is dropped.
  KEYS[1] job hash
  ARGV[1] attempt  ARGV[2] builder id  ARGV[3] TTL of the finished job (s)
  ARGV[4..] field, value pairs to set (must include 'state')
  Returns: 1 recorded; E.JOB_FINISHED; E.STALE_ATTEMPT (attempt or builder); E.NO_JOB.
  E.*: the error table of redis/codes.ts, defined in front of the script by redis/scripts.ts.
]]
local f = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'bid')
if not f[1] then return E.NO_JOB end
if f[1] ~= 'queued' and f[1] ~= 'running' then return E.JOB_FINISHED end
if f[2] ~= ARGV[1] or f[3] ~= ARGV[2] then return E.STALE_ATTEMPT end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
