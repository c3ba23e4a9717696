--[[
  Stop a job. A queued job becomes killed at once; a running one is flagged for its builder.
  KEYS[1] job hash
  ARGV[1] now (ISO time)  ARGV[2] TTL of a finished job (s)
  Returns: "killed" (it was queued), "running" (its builder must stop it), the final state if it had
           already finished, or E.NO_JOB.
  E.*: the error table of redis/codes.ts, defined in front of the script by redis/scripts.ts.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return E.NO_JOB end
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'killed', 'finishedAt', ARGV[1], 'cancel', '1')
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 'killed'
end
if state == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  return 'running'
end
return state
