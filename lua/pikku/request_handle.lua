-- A request handle: the core's number (answered through FFI) or an in-process request's table.
local M = {}

local type = type

-- The two calls every request makes go through LuaJIT FFI (pikku.host), not the classic C API.
local host = require "pikku.host"
local core_respond, core_header = host.respond, host.header

--- respond(handle, status, body, content_type, extra_headers, error_id) -> true, or nil when the
--- request is gone (docs/internals.md). A table handle answers itself (handle:respond).
function M.respond(handle, status, body, ctype, extra, id)
  if type(handle) == "table" then return handle:respond(status, body, ctype, extra, id) end
  return core_respond(handle, status, body, ctype, extra, id)
end

--- header(handle, name) -> the request header's value, or nil (case-insensitive).
function M.header(handle, name)
  if type(handle) == "table" then return handle:header(name) end
  return core_header(handle, name)
end

return M
