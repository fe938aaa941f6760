-- An app's native code (docs/native.md): pikku.native_func's body, pikku.native_lib (FFI), C modules for require.
--
-- Libraries are APP_DIR/.pikku/native/NAME.so (built by `pikku build` from APP_DIR/native/NAME.c)
-- or APP_DIR/NAME.so. Each Lua state loads its own fresh copy of each (pikku.native_c), so a
-- reload runs what was built since, and the copy an older state loaded is unloaded when that state
-- closes (after its last call).
local M = {}

local json = require "pikku.json"
local errors = require "pikku.errors"

local tostring, pcall, error, format, gsub = tostring, pcall, error, string.format, string.gsub
local native_c   -- pikku.native_c, on first use (plain `require "pikku"` works outside the host)

local function c() native_c = native_c or require "pikku.native_c"; return native_c end

-- What pk_call's C functions ask of Lua (core/src/native_func.c). ctx.svc is the calling
-- function's services, set right before each native call (a native call never yields).
local ctx = {
  encode = json.encode, decode = json.decode, null = json.null,
  array_mt = json.array_mt, object_mt = json.object_mt, svc = nil,
}

-- pk_error(call, name, message, payload_json) -> the pikku error raised for it
function ctx.error(name, message, payload)
  local p
  if payload ~= nil then
    p = json.decode(payload)
    if p == nil then message = tostring(message) .. " (its payload was not JSON: " .. tostring(payload) .. ")" end
  end
  if errors.STATUS[name] then return errors[name](message, p) end
  return errors.InternalServerError(format('a native function failed with the unknown error name "%s": %s',
    tostring(name), tostring(message)))
end

-- pk_call_log(call, level, message)
function ctx.log(level, message)
  local logger = ctx.svc and ctx.svc.logger
  local f = logger and logger[level]
  if f then f(message) else require("pikku.core").log("info", message) end
end

-- pk_publish(call, topic, json) -> receivers on this worker, or a negative errno
function ctx.publish(topic, text)
  local v = json.decode(text)
  if v == nil then return -22 end   -- EINVAL
  local hub = ctx.svc and ctx.svc.eventhub
  if not hub then return -22 end
  local ok, n = pcall(hub.publish, hub, topic, v)
  if not ok then return -105 end   -- ENOBUFS: refused (too big, the hub full, a bad topic)
  return n or 0
end

--- make(lib, symbol, what) -> function(services, data, wire) running the native function `symbol`
--- of the app's library `lib`; raises "what: ..." when the library or the symbol is missing.
function M.make(lib, symbol, what)
  local handle, err = c().open(lib)
  if not handle then error(what .. ": " .. err, 0) end
  local fn, serr = native_c.symbol(handle, symbol)
  if not fn then error(what .. ": " .. serr, 0) end
  local call = native_c.call
  return function(services, data, wire)
    ctx.svc = services
    local res, ctype = call(fn, data, wire and wire.session, ctx)
    ctx.svc = nil
    if ctype and wire and wire.http then wire.http:set_header("Content-Type", ctype) end
    return res
  end, handle   -- the library stays loaded while the function is referenced
end

--- lib(name, cdefs?) -> an FFI namespace of the app's library `name` (a fresh copy; ffi.load). cdefs:
--- declarations given to ffi.cdef first (optional).
function M.lib(name, cdefs)
  local ffi = require "ffi"
  if cdefs then ffi.cdef(cdefs) end
  local copy, err = c().copy(name)
  if not copy then error("pikku.native_lib: " .. err, 2) end
  local ok, clib = pcall(ffi.load, copy)
  native_c.forget(copy)
  if not ok then error("pikku.native_lib: cannot load " .. name .. ": " .. tostring(clib), 2) end
  return clib
end

--- path(name) -> where the app's library `name` is, or nil, err.
function M.path(name) return c().path(name) end

local installed = false
--- install(app_dir): require finds the app's C modules (APP_DIR/.pikku/native/NAME.so, APP_DIR/NAME.so)
--- whatever the working directory, each state loading a fresh copy; package.cpath names them too,
--- and no longer holds LuaJIT's "./?.so" (the working directory is not the app).
function M.install(app_dir)
  if installed then return end
  installed = true
  local loaders = package.loaders
  table.insert(loaders, 3, c().searcher)   -- after package.preload and the Lua files, before LuaJIT's own
  local rest = gsub(package.cpath, "%./%?%.so;?", "")
  package.cpath = app_dir .. "/?.so;" .. app_dir .. "/.pikku/native/?.so;" .. rest
end

return M
