--[[
  queued -> running, if this message is still the job's current attempt on this builder.
  KEYS[1] job hash
  ARGV[1] attempt  ARGV[2] builder id  ARGV[3] now (ISO time)
  Returns: 1 started; -1 the job already finished (e.g. stopped while queued);
           -2 this attempt or builder is stale (the job was placed again); -5 no such job.
]]
local f = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'bid')
if not f[1] then return -5 end
if f[1] ~= 'queued' and f[1] ~= 'running' then return -1 end
if f[2] ~= ARGV[1] or f[3] ~= ARGV[2] then return -2 end
if f[1] == 'running' then return -2 end
redis.call('HSET', KEYS[1], 'state', 'running', 'startedAt', ARGV[3])
return 1
