--[[
  Give back the slot a job held on a builder, once.
  KEYS[1] load  KEYS[2] assignments
  ARGV[1] job id  ARGV[2] builder id
  Returns: 1 released; 0 the job was not assigned to that builder (already released or moved).
]]
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  local n = redis.call('HINCRBY', KEYS[1], ARGV[2], -1)
  if n < 0 then redis.call('HSET', KEYS[1], ARGV[2], 0) end
end
return 1
