-- The W3C trace context of the running call: the traceparent an outbound HTTP call passes on.
local M = {}

local core = require "pikku.core"
local pipeline = require "pikku.pipeline"

local type, require = type, require
local match, sub = string.match, string.sub
local co_running = coroutine.running

-- version 00: "00-" 32 hex "-" 16 hex "-" 2 hex (the core checks the same for the call id)
local function parse(v)
  if type(v) ~= "string" then return nil end
  local version, trace, flags = match(v, "^(%x%x)%-(%x+)%-%x+%-(%x%x)")
  if not version or version == "ff" or #trace ~= 32 or match(trace, "[^0-9a-f]")
      or trace == "00000000000000000000000000000000" then
    return nil
  end
  if core.request_id(nil, v) ~= trace then return nil end   -- the core's rule decides, not this pattern
  return trace, flags
end

local runtime_call_id
local function call_id()
  if runtime_call_id == nil then runtime_call_id = require("pikku.runtime").call_id or false end
  return runtime_call_id and runtime_call_id() or nil
end

--- traceparent() -> "00-<trace-id>-<new parent-id>-<flags>" for an outbound call made by the
--- running call, or nil outside a call. The trace-id is the request's own traceparent's, else the
--- call's id when it is one (32 lower-case hex: a generated id), else a new one; the parent-id is
--- new for each outbound call; the flags are the request's, else 01 (sampled).
function M.traceparent()
  local co = co_running()
  if co == nil then return nil end
  local w = pipeline.active[co] or pipeline.root_wire(co)
  if w == nil then return nil end
  local root = w._root or w
  local h = root.http
  local trace, flags
  if h then trace, flags = parse(h:header("traceparent")) end
  if trace == nil then
    local id = call_id()
    if type(id) == "string" and #id == 32 and not match(id, "[^0-9a-f]") then trace = id end
  end
  trace = trace or core.gen_id()
  return "00-" .. trace .. "-" .. sub(core.gen_id(), 17, 32) .. "-" .. (flags or "01")
end

return M
