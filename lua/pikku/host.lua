-- FFI bindings of the runtime's own exported calls (pk_rt_*, core/include/pikku.h): calls the JIT can compile.
local ffi = require "ffi"

ffi.cdef [[
  int pk_rt_respond(double handle, int status, const char *body, size_t blen, const char *ct, size_t ctlen,
                    const char *extra, size_t elen, const char *error_id, size_t idlen);
  const char *pk_rt_header(double handle, const char *name, size_t nlen, size_t *vlen);
  double pk_rt_now_ms(void);
  double pk_rt_call_start_ms(void);
  double pk_rt_now_coarse_ms(void);
  double pk_rt_coarse_res_ms(void);
]]

local C, ffi_string = ffi.C, ffi.string
local vlen = ffi.new("size_t[1]")

local M = {}

--- respond(handle, status, body?, content_type?, extra_headers?, error_id?) -> true | nil (request gone)
function M.respond(handle, status, body, ctype, extra, id)
  local rc = C.pk_rt_respond(handle, status, body, body and #body or 0, ctype, ctype and #ctype or 0,
    extra, extra and #extra or 0, id, id and #id or 0)
  if rc == 0 then return true end
  return nil
end

--- header(handle, name) -> value | nil (case-insensitive; repeated headers joined with ", ", Cookie lines with "; ")
function M.header(handle, name)
  local p = C.pk_rt_header(handle, name, #name, vlen)
  if p == nil then return nil end
  return ffi_string(p, vlen[0])
end

--- now_ms() -> milliseconds on the core's monotonic clock (pikku.core.now, without leaving the trace)
function M.now_ms()
  return C.pk_rt_now_ms()
end

--- call_start_ms() -> now_ms() for a call starting now; for the first call started by the bytes of
--- one read, the reading taken when that read began (one clock read less a request: pk_rt_call_start_ms)
function M.call_start_ms()
  return C.pk_rt_call_start_ms()
end

--- now_coarse_ms() -> now_ms() at the kernel's tick: never ahead of it, behind by up to coarse_res_ms
function M.now_coarse_ms()
  return C.pk_rt_now_coarse_ms()
end

M.coarse_res_ms = C.pk_rt_coarse_res_ms()

return M
