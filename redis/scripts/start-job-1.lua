--[[
  queued -> running, if this message is still the job's current attempt on this builder; answers
  the whole job to run, so the builder needs no read of its own before or after (one round trip).
  KEYS[1] job hash
  ARGV[1] attempt  ARGV[2] builder id  ARGV[3] now (ISO time)
  Returns: the job hash as field, value, … (HGETALL, inline files included) once started (or
           already running on this attempt and builder: claimed again); E.JOB_FINISHED (e.g.
           stopped while queued); E.STALE_ATTEMPT this attempt or builder is not the current one
           (the job was placed again); E.NO_JOB.
  E.*: the error table of redis/codes.ts, defined in front of the script by redis/scripts.ts.
]]
local f = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'bid')
if not f[1] then return E.NO_JOB end
if f[1] ~= 'queued' and f[1] ~= 'running' then return E.JOB_FINISHED end
if f[2] ~= ARGV[1] or f[3] ~= ARGV[2] then return E.STALE_ATTEMPT end
-- Running already on this attempt and builder: the builder claims it again after it lost the
-- handler (a reclaimed pending message); it never pulls one message twice.
if f[1] == 'queued' then redis.call('HSET', KEYS[1], 'state', 'running', 'startedAt', ARGV[3]) end
return redis.call('HGETALL', KEYS[1])
