--[[
  Reserve a slot for a job on the best builder of one platform, in O(log N) of its builders.
  KEYS[1] leases  KEYS[2] load  KEYS[3] slots  KEYS[4] warmof  KEYS[5] free  KEYS[6] drained
  KEYS[7] selfdrain  KEYS[8] names  KEYS[9] assign  KEYS[10] creating
                                                            (all under the platform's hash tag {p:PLATFORM})
  ARGV[1] now (ms)  ARGV[2] toolchain digest or ""  ARGV[3] job id
  ARGV[4] prefix of the per-toolchain warm ZSETs  ARGV[5] prefix of the per-builder job SETs
  ARGV[6] when the job's creation guard is due (ms), or "" for none: with the slot, the job gets
          its guard in `creating` in the same step (a gateway that dies after this leaks nothing:
          gateway/sweeper.ts recovers a guard that is still there when due)
  Returns: the chosen builder id; E.NO_BUILDER no live, non-draining builder of the platform;
           E.ALL_BUSY all of them are full; E.ALREADY_PLACED the job holds a slot already.
  Preference: a builder with the toolchain warm (the least loaded of those), else the least
  loaded (lowest used/slots). Builders whose lease ended are dropped from the free structures as
  they are met, so an expired builder is never chosen.
]]
-- @include place
