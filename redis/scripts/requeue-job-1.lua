--[[
  After a builder was lost: move the job to its next attempt on a new builder, or fail it.
  KEYS[1] job hash
  ARGV[1] the attempt that was lost  ARGV[2] max attempts  ARGV[3] new builder id, or "" if none
  ARGV[4] now (ISO time)  ARGV[5] error JSON used when the job is failed  ARGV[6] TTL of a failed job (s)
  Returns: the new attempt number (> 1); 0 the job was failed; E.JOB_FINISHED; E.STALE_ATTEMPT;
           E.NO_JOB.
  E.*: the error table of redis/codes.ts, defined in front of the script by redis/scripts.ts.
]]
local f = redis.call('HMGET', KEYS[1], 'state', 'attempt')
if not f[1] then return E.NO_JOB end
if f[1] ~= 'queued' and f[1] ~= 'running' then return E.JOB_FINISHED end
if f[2] ~= ARGV[1] then return E.STALE_ATTEMPT end
local nextAttempt = tonumber(ARGV[1]) + 1
if ARGV[3] == '' or nextAttempt > tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'state', 'failed', 'finishedAt', ARGV[4], 'error', ARGV[5])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'attempt', nextAttempt, 'bid', ARGV[3], 'startedAt', '')
return nextAttempt
