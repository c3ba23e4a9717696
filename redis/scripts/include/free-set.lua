--[[
  Included by the registry scripts: keeps a builder's place in the per-platform free structures.
  Needs, from the including script: R = { leases, load, slots, warmof, free, drained, selfdrain,
  names } (key names) and WARM (prefix of the per-toolchain ZSETs, `<prefix><digest>`).
  drained     HASH builder NAME -> drain mark JSON (an admin's drain, by name, across restarts)
  names       HASH bid -> builder name
  free        ZSET bid -> used/slots, every live, non-draining builder with a free slot
  WARM..d     ZSET bid -> used/slots, the members of `free` that have toolchain d warm
]]
local function warmList(bid)
  local raw = redis.call('HGET', R.warmof, bid)
  if not raw or raw == '' then return {} end
  local out = {}
  for d in string.gmatch(raw, '%S+') do out[#out + 1] = d end
  return out
end

-- Takes a builder out of every free structure.
local function unfree(bid)
  redis.call('ZREM', R.free, bid)
  for _, d in ipairs(warmList(bid)) do redis.call('ZREM', WARM .. d, bid) end
end

-- True while the builder drains: an admin drained its name, or it drains itself (shutting down).
local function draining(bid)
  local name = redis.call('HGET', R.names, bid) or bid
  return redis.call('HEXISTS', R.drained, name) == 1 or redis.call('HEXISTS', R.selfdrain, bid) == 1
end

-- Puts a builder where its state says it belongs: in the free structures with its load ratio
-- when it is live, not draining and has a free slot; out of them otherwise.
local function refree(bid, now)
  local exp = redis.call('ZSCORE', R.leases, bid)
  local slots = tonumber(redis.call('HGET', R.slots, bid) or '0')
  local used = tonumber(redis.call('HGET', R.load, bid) or '0')
  if not exp or tonumber(exp) < now or slots <= 0 or used >= slots or draining(bid) then
    unfree(bid)
    return
  end
  local ratio = used / slots
  redis.call('ZADD', R.free, ratio, bid)
  for _, d in ipairs(warmList(bid)) do redis.call('ZADD', WARM .. d, ratio, bid) end
end

-- After a placement on a builder that headed a free structure (so it is live and not draining:
-- those are the only members), with `used` its slots in use now: its new place, fewer reads than
-- refree.
local function rescore(bid, used)
  local slots = tonumber(redis.call('HGET', R.slots, bid) or '0')
  if used >= slots then
    unfree(bid)
    return
  end
  local ratio = used / slots
  redis.call('ZADD', R.free, ratio, bid)
  for _, d in ipairs(warmList(bid)) do redis.call('ZADD', WARM .. d, ratio, bid) end
end
