--[[
  Compare-and-set one preset: writes (or removes) it only if it is still what the caller read.
  KEYS[1] presets hash
  ARGV[1] preset id (name@platform)
  ARGV[2] expected JSON ('' = the preset must not exist)
  ARGV[3] new JSON ('' = remove the preset)
  Returns: 1 done; 0 the preset changed meanwhile (nothing was written).
]]
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = '' end
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return 1
