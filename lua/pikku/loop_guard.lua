-- Blocking made visible: a call holding the worker's loop over PIKKU_BLOCK_WARN_MS (default 100) is logged.
local M = {}

local core = require "pikku.core"

local type, tostring, tonumber, pairs, format = type, tostring, tonumber, pairs, string.format
local log = core.log
local host = require "pikku.host"
-- core.now through FFI (in the trace); the coarse clock first, at a quarter of the cost, which is
-- never ahead of it and behind by up to one kernel tick (coarse_res_ms; twice that is the margin
-- taken): only a call that may be over the threshold reads the exact one
local now, coarse, coarse_margin = host.now_ms, host.now_coarse_ms, 2 * host.coarse_res_ms

--- The threshold in milliseconds (0: every call is reported; a negative number: none).
M.threshold_ms = tonumber(os.getenv("PIKKU_BLOCK_WARN_MS") or "") or 100

local labels = {}   -- a plan's entry -> "GET /route (wired at file:line)"

--- set_routes(routes): the loaded routes, to name the function and route of a slow call.
function M.set_routes(routes)
  labels = {}
  for _, r in pairs(routes) do
    if r.entry and r.route then
      labels[r.entry] = format("%s %s (wired at %s)", tostring(r.method), r.route, tostring(r.place))
    end
  end
end

local function describe(h)
  if type(h) ~= "table" then return "a task (pikku.spawn or a test)" end
  local label = h._entry and labels[h._entry]
  if label then return label end
  if h.method then return format("%s %s", tostring(h.method), tostring(h._raw_path)) end
  return "a channel message"
end

--- check(t0, h): the call h ran from t0 (core.now()) until now without yielding; warns when that
--- is over the threshold.
function M.check(t0, h)
  local limit = M.threshold_ms
  if limit < 0 or coarse() - t0 + coarse_margin < limit then return end
  local held = now() - t0
  if held < limit then return end
  log("warn", format("blocking: %s held the worker's loop for %.1f ms without yielding (over %d ms; every"
    .. " other request of this worker waited: use pikku.http, pikku.redis, pikku.pg, pikku.socket or"
    .. " services.sleep, which yield)", describe(h), held, limit))
end

return M
