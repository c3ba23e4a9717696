--[[
  Remove builders from the registry and hand back the jobs they held.
  KEYS[1] leases  KEYS[2] builders  KEYS[3] load  KEYS[4] assignments
  ARGV[1] now (ms)  ARGV[2] a builder id to remove, or "" for every builder whose lease expired
  Returns: a flat list  bid, n, job1..jobn,  bid, n, ...
]]
local ids
if ARGV[2] ~= '' then
  ids = { ARGV[2] }
else
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
end
local gone = {}
for _, bid in ipairs(ids) do gone[bid] = {} end
if #ids == 0 then return {} end
local all = redis.call('HGETALL', KEYS[4])
for i = 1, #all, 2 do
  local list = gone[all[i + 1]]
  if list then
    table.insert(list, all[i])
    redis.call('HDEL', KEYS[4], all[i])
  end
end
local out = {}
for _, bid in ipairs(ids) do
  redis.call('ZREM', KEYS[1], bid)
  redis.call('HDEL', KEYS[2], bid)
  redis.call('HDEL', KEYS[3], bid)
  table.insert(out, bid)
  table.insert(out, #gone[bid])
  for _, j in ipairs(gone[bid]) do table.insert(out, j) end
end
return out
