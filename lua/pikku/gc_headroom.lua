-- A small Lua heap is not collected every few hundred requests: each GC cycle starts only once
-- at least PIKKU_GC_HEADROOM_MB (default 1) was allocated beyond what the last one left alive.
--
-- LuaJIT starts a cycle when the heap has grown to `pause` percent (default 200) of what the last
-- cycle left: with the ~1 MB most apps hold, a full mark and sweep every ~1 MB allocated, every
-- few hundred requests, and each one walks the whole heap (issue 18: ~5 % of a /validate
-- request's CPU at 200 %, docs/benchmarks.md). After every cycle this sets the pause so that the
-- next starts at live + headroom, but never below LuaJIT's 200 % (a big heap is collected as
-- before) nor above 1000 %. The cost is at most the headroom in memory per Lua state. 0 turns it
-- off (LuaJIT's pause is left alone). 1 MB, not 4: the same CPU per request, and POST /validate's
-- p99 0.38-0.41 ms instead of 0.52-0.54 in three paired runs (docs/benchmarks.md, "Stop 17"); the
-- collector's steps then work on memory still in the cache (callgrind's cache simulation: 2.3
-- last-level misses a request instead of 22.7).
local M = {}

local MIN_PAUSE, MAX_PAUSE = 200, 1000

local collectgarbage, getmetatable, newproxy, floor, tonumber =
  collectgarbage, getmetatable, newproxy, math.floor, tonumber

local headroom_kb = (tonumber(os.getenv("PIKKU_GC_HEADROOM_MB") or "") or 1) * 1024
-- The collector's step size while the heap is small (the pause above 200 %): 100 (LuaJIT's default
-- is 200) makes it work as fast as the program allocates, in steps half as big; a cycle then spans
-- more requests, each paying less of it. With pinned load the p99 latency went from 0.42 to 0.35
-- ms on GET /hello and from 0.61 to 0.49 ms on POST /validate, CPU per request the same
-- (docs/benchmarks.md, "Stop 14"). The heap's peak grows by what is allocated while a cycle runs,
-- about the live heap plus the headroom: bounded, since this applies only to heaps under the
-- headroom. A bigger heap keeps LuaJIT's 200 (at 100 its peak would grow by as much as it holds).
-- (Below 100 a cycle may never finish: Lua's manual.)
local SMALL_STEPMUL = math.max(tonumber(os.getenv("PIKKU_GC_STEPMUL") or "") or 100, 100)

-- The pause (in percent) that starts the next cycle at live + headroom.
local function tune()
  local live = collectgarbage("count")   -- KB: what the cycle left, plus a little since
  local pause = floor(100 * (live + headroom_kb) / live)
  if pause < MIN_PAUSE then pause = MIN_PAUSE elseif pause > MAX_PAUSE then pause = MAX_PAUSE end
  collectgarbage("setpause", pause)
  collectgarbage("setstepmul", pause > MIN_PAUSE and SMALL_STEPMUL or 200)
end

-- A userdata with nothing pointing at it is finalized at the end of every cycle: its __gc tunes
-- the pause (before LuaJIT computes the next threshold from it) and leaves a new one behind.
-- (When the state closes, lua_close runs the finalizers of what finalizers left at most ten times
-- over, so the one left then is freed with the rest.)
local sentinel_mt
local function plant()
  local s = newproxy(true)
  getmetatable(s).__gc = sentinel_mt.__gc
end
sentinel_mt = { __gc = function() tune(); plant() end }

local started = false

--- start(): from now on, every cycle sets the pause for the next (once per Lua state).
function M.start()
  if started or headroom_kb <= 0 or not newproxy then return end
  started = true
  tune()
  plant()
end

return M
