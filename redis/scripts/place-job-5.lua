--[[
  Reserve a slot for a job on the best live builder of a platform.
  KEYS[1] leases       ZSET builder id -> lease expiry (ms)
  KEYS[2] builders     HASH builder id -> BuilderInfo JSON
  KEYS[3] load         HASH builder id -> slots in use
  KEYS[4] assignments  HASH job id -> builder id
  KEYS[5] drained      HASH builder name -> drain mark JSON (set by an admin; skipped here)
  ARGV[1] now (ms)  ARGV[2] platform  ARGV[3] toolchain digest or ""  ARGV[4] job id
  Returns: the chosen builder id;
           E.NO_BUILDER no live, non-draining builder of that platform; E.ALL_BUSY all of them
           are full; E.ALREADY_PLACED the job already holds a slot.
  Preference: toolchain warm first, then the lowest load ratio. A builder is draining when it says
  so itself (info.draining) or when its name is in KEYS[5]; a draining builder gets no new job.
  E.*: the error table of redis/codes.ts, defined in front of the script by redis/scripts.ts.
]]
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then return E.ALREADY_PLACED end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
local best, bestWarm, bestRatio, seen = nil, -1, 2, 0
for _, bid in ipairs(live) do
  local raw = redis.call('HGET', KEYS[2], bid)
  if raw then
    local info = cjson.decode(raw)
    local drained = redis.call('HEXISTS', KEYS[5], info.name or bid) == 1
    if info.platform == ARGV[2] and info.draining ~= true and not drained then
      seen = seen + 1
      local used = tonumber(redis.call('HGET', KEYS[3], bid) or '0')
      local slots = tonumber(info.slots) or 0
      if used < slots then
        local warm = 0
        if ARGV[3] ~= '' and type(info.warm) == 'table' then
          for _, d in ipairs(info.warm) do
            if d == ARGV[3] then warm = 1 end
          end
        end
        local ratio = used / slots
        if warm > bestWarm or (warm == bestWarm and ratio < bestRatio) then
          best, bestWarm, bestRatio = bid, warm, ratio
        end
      end
    end
  end
end
if not best then
  if seen == 0 then return E.NO_BUILDER end
  return E.ALL_BUSY
end
redis.call('HINCRBY', KEYS[3], best, 1)
redis.call('HSET', KEYS[4], ARGV[4], best)
return best
