--[[
  Record a job's result: compare-and-set on the attempt and builder, so a late duplicate is dropped.
  With the result, in the same step, the attempt's `end` entry goes to the job's log and the
  job's waiters are woken: the builder's whole report is one round trip. The wake-up carries the
  finished job's status (`done`, a newline, the JSON array of the DONE_FIELDS' values, false for a
  missing one), so a waiter answers without reading the record again.
  KEYS[1] job hash  KEYS[2] job log stream                  (both under the job's hash tag {job:ID})
  ARGV[1] attempt  ARGV[2] builder id  ARGV[3] TTL of the finished job and its log (s)
  ARGV[4] the job's events channel (PUBLISH `done` and the status there)
  ARGV[5..] field, value pairs to set (must include 'state')
  Returns: 1 recorded; E.JOB_FINISHED; E.STALE_ATTEMPT (attempt or builder); E.NO_JOB.
  E.*: the error table of redis/codes.ts, and DONE_FIELDS (redis/job-hash.ts), defined in front
  of the script by redis/scripts.ts.
]]
local f = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'bid')
if not f[1] then return E.NO_JOB end
if f[1] ~= 'queued' and f[1] ~= 'running' then return E.JOB_FINISHED end
if f[2] ~= ARGV[1] or f[3] ~= ARGV[2] then return E.STALE_ATTEMPT end
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('XADD', KEYS[2], '*', 'k', 'end', 'a', ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], 'done\n' .. cjson.encode(redis.call('HMGET', KEYS[1], unpack(DONE_FIELDS))))
return 1
