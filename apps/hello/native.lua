-- Calls the host's exported C API through LuaJIT FFI (core/include/pikku.h), the fast way into C.
local ffi = require "ffi"

ffi.cdef [[
const char *pk_version(void);
double pk_now_ms(void);
]]

local C = ffi.C
local M = {}

function M.info()
  return { version = ffi.string(C.pk_version()), now_ms = tonumber(C.pk_now_ms()) }
end

return M
