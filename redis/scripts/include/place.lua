--[[
  Included, last, by place-job-10.lua and admit-place-job-12.lua: reserves a slot for a job,
  with KEYS[1..10] and ARGV[1..6] as place-job-10.lua lists them, and returns its answer.
]]
local R = { leases = KEYS[1], load = KEYS[2], slots = KEYS[3], warmof = KEYS[4], free = KEYS[5],
      drained = KEYS[6], selfdrain = KEYS[7], names = KEYS[8] }
local WARM = ARGV[4]
-- @include free-set
if redis.call('HEXISTS', KEYS[9], ARGV[3]) == 1 then return E.ALREADY_PLACED end
local now = tonumber(ARGV[1])

-- The head of a free ZSET whose lease is live; dead heads are taken out on the way.
local function head(zkey)
  for _ = 1, 16 do
    local top = redis.call('ZRANGE', zkey, 0, 0)
    local bid = top[1]
    if not bid then return nil end
    local exp = redis.call('ZSCORE', R.leases, bid)
    if exp and tonumber(exp) >= now then return bid end
    unfree(bid)
  end
  return nil
end

local best = nil
if ARGV[2] ~= '' then best = head(WARM .. ARGV[2]) end
if not best then best = head(R.free) end
if not best then
  -- Tell "none at all" from "all busy": is any live builder not draining? (Only on this
  -- failure path, and it stops at the first such builder, which in a busy farm is the first.)
  local off = 0
  while true do
    local ids = redis.call('ZRANGEBYSCORE', R.leases, now, '+inf', 'LIMIT', off, 100)
    for _, bid in ipairs(ids) do
      if not draining(bid) then return E.ALL_BUSY end
    end
    if #ids < 100 then return E.NO_BUILDER end
    off = off + 100
  end
end
local used = redis.call('HINCRBY', R.load, best, 1)
redis.call('HSET', KEYS[9], ARGV[3], best)
redis.call('SADD', ARGV[5] .. best, ARGV[3])
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[10], ARGV[6], ARGV[3]) end
rescore(best, used)
return best
