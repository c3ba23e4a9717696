--[[
  Admit a job creation of a tenant and, once admitted, reserve its slot, in one step: the two
  steps of admit-job-2.lua and place-job-10.lua on one server (on a cluster their keys live in
  different slots: the gateway then runs the two scripts one after the other).
  KEYS[1..10] as place-job-10.lua (the platform's registry)  KEYS[11..12] as admit-job-2.lua
  ARGV[1..6] as place-job-10.lua  ARGV[7..12] as admit-job-2.lua's ARGV[1..6]
  Returns: {E.RATE_LIMITED, ms} or {E.IN_FLIGHT_FULL, n} not admitted (nothing placed);
           else place-job-10.lua's answer: the chosen builder id, or (the job stays admitted)
           E.NO_BUILDER, E.ALL_BUSY, E.ALREADY_PLACED.
  E.*: the error table of redis/codes.ts, defined in front of the script by redis/scripts.ts.
]]
-- @include admit
local admitted = admit(KEYS[11], KEYS[12], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12])
if admitted[1] ~= 1 then return admitted end
-- @include place
