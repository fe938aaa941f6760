-- The call a worker runs now, told to the core (pk_rt_call_*): time limits, crash reports, the memory ceiling.
--
-- The runtime tells the core at every start and resume of a call and when the call yields or ends
-- (pk_rt_call_enter / pk_rt_call_leave through FFI: one call each, cheaper than writing the
-- record's fields from Lua, which runs interpreted there). The core keeps the record: its watchdog stops a call
-- whose code runs past its deadline (core/src/call_guard.c), a crash report names what ran
-- (core/src/rescue.c), and the Lua state's memory ceiling applies while a call runs
-- (core/src/mem_limit.c). A call's time limit is its function's `timeout_ms`, else the app's
-- `pikku.limits { timeout_ms = ... }`, else `--call-timeout-ms` (30000); 0 means none.
local M = {}

local ffi = require "ffi"
local guard_c = require "pikku.guard_c"

ffi.cdef [[
  void pk_rt_call_enter(double handle, double cid, double started_ms, double limit_ms, int label);
  void pk_rt_call_leave(void);
  void pk_rt_call_id(const char *id, size_t len);
  int pk_rt_label(const char *text, size_t len);
]]

local C = ffi.C
local type, tostring, tonumber, pairs, ipairs, format = type, tostring, tonumber, pairs, ipairs, string.format
local call_enter, call_leave, call_id = C.pk_rt_call_enter, C.pk_rt_call_leave, C.pk_rt_call_id

local info = {}                         -- a plan's entry -> { label = id, limit = ms, text = label text }
local default_limit = tonumber(guard_c.call_timeout_ms) or 30000
local other = { label = 0, limit = default_limit }   -- an entry setup did not see (the run-later queue's)

local function label_id(text)
  return C.pk_rt_label(text, #text)
end

local function limit_of(def, app_limit)
  local t = def and def.timeout_ms
  if t ~= nil then return t end
  return app_limit
end

local function add(entry, def, text, app_limit)
  if entry and info[entry] == nil then
    info[entry] = { label = label_id(text), limit = limit_of(def, app_limit), text = text }
  end
end

local function where(plan, place)
  local name = plan.def and plan.def.name
  if name then return format('function "%s" (wired at %s)', name, tostring(place)) end
  return format("the function wired at %s", tostring(place))
end

--- setup(app): the limits and labels of every entry of the loaded app (routes, RPC, channels).
--- app.limits: what pikku.limits set ({ timeout_ms = ... } or nil).
function M.setup(app)
  info = {}
  local app_limit = app.limits and app.limits.timeout_ms
  if app_limit == nil then app_limit = default_limit end
  other = { label = 0, limit = app_limit }
  for _, r in pairs(app.routes) do
    if r.entry and r.kind ~= "channel" then add(r.entry, r.def, where(r, r.place), app_limit) end
  end
  for name, plan in pairs(app.rpc_plans or {}) do
    add(plan.entry, plan.def, format('RPC "%s" (function "%s")', name, name), app_limit)
  end
  for name, ch in pairs(app.channels or {}) do
    local cl = format('channel "%s"', name)
    for what, plan in pairs { on_connect = ch.connect, on_disconnect = ch.disconnect, on_message = ch.message,
                              on_binary = ch.binary } do
      add(plan.entry, plan.def, format("%s %s: %s", cl, what, plan.label), app_limit)
    end
    for _, k in ipairs(ch.keys) do
      for value, plan in pairs(k.handlers) do
        add(plan.entry, plan.def, format('%s %s "%s": %s', cl, k.key, value, plan.label), app_limit)
      end
    end
  end
  for name, s in pairs(app.schedules or {}) do
    add(s.plan.entry, s.def, format('schedule "%s": %s (wired at %s)', name, s.plan.label, tostring(s.place)),
      app_limit)
  end
  for name, q in pairs(app.queues or {}) do   -- an attempt's limit: the queue's timeout (docs/queues.md)
    if q.plan then
      add(q.plan.entry, q.def, format('queue "%s" worker: %s (wired at %s)', name, q.plan.label, tostring(q.place)),
        q.timeout or app_limit)
    end
  end
end

--- limit_of(entry) -> the time limit (ms, 0: none) of the calls of this entry.
function M.limit(entry)
  local i = info[entry]
  return i and i.limit or default_limit
end

-- Tells the core that call h's code runs (again); i: its entry's label and limit.
local function enter(h, i, started)
  -- rawget: on a wire.http object an absent key goes through HttpMT's __index, a Lua function
  local handle, cid = h.handle, rawget(h, "cid")
  call_enter(type(handle) == "number" and handle or 0, type(cid) == "number" and cid or 0, started, i.limit, i.label)
  local id = rawget(h, "_rid")
  if id then call_id(id, #id) end
end

--- begin(entry, h, t0): a call of entry starts for h (a wire.http object, a channel call, a job)
--- at t0 (core.now()); its limit runs from now. h nil: a task of the runtime (no limit).
function M.begin(entry, h, t0)
  if h ~= nil then
    local i = info[entry] or other
    h._guard, h._started = i, t0
    enter(h, i, t0)
  else
    call_enter(0, 0, t0, 0, 0)
  end
end

--- call_limit(h) -> limit, text or nil: call h's time limit (ms) and what it runs (its label, nil when setup
--- did not see its entry), when it has a limit. Its deadline is h._started + limit.
function M.call_limit(h)
  local i = h._guard
  if i == nil or i.limit <= 0 then return nil end
  return i.limit, i.text
end

--- resume(h, t0): call h goes on after a wait (h may be a task's marker: no limit then).
function M.resume(h, t0)
  if type(h) == "table" and h._guard then
    enter(h, h._guard, h._started)
  else
    call_enter(0, 0, t0, 0, 0)
  end
end

--- stop(): the running call yielded or ended.
M.stop = call_leave

--- set_id(h, id): the call made its errorId (a crash report names it).
function M.set_id(h, id)
  if h and h._guard then call_id(id, #id) end
end

--- memory() -> used, limit (0: none), peak: the Lua state's bytes (--max-lua-memory).
M.memory = guard_c.memory
M.replace_worker = guard_c.replace_worker
M.test_progress = guard_c.test_progress

return M
