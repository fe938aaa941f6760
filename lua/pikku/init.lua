-- The API apps write against: pikku.func, pikku.wire_http, pikku.errors, pikku.sleep, config and services.
local M = {}

local errors = require "pikku.errors"

local type, tostring, pairs, setmetatable, getmetatable = type, tostring, pairs, setmetatable, getmetatable
local error, require = error, require
local getinfo = debug.getinfo
local upper, sub = string.upper, string.sub

M.errors = errors
M.VERSION = "0.1.0"

-- Registrations made by app.lua; pikku.runtime reads and clears them on every load.
local registry = {
  wirings = {},      -- list of { method, route, def, auth, raw_body, place }
  config = {},
  singleton_factory = nil,
}
M._registry = registry

--- Clears every registration (pikku.runtime calls this before running app.lua).
function M._reset()
  registry.wirings = {}
  registry.config = {}
  registry.singleton_factory = nil
end

-- "file:line" of the code `level` frames above the caller of this helper.
local function place(level)
  local info = getinfo(level + 1, "Sl")
  if not info then return "?" end
  local src = info.source or "?"
  if sub(src, 1, 1) == "@" then
    src = sub(src, 2)
  else
    src = info.short_src
  end
  return src .. ":" .. tostring(info.currentline)
end
M._place = place

-- Marks function definitions made by pikku.func.
local FuncDef = {}

--- pikku.func(def) -> def. def.func(services, data, wire) is required; input, output, auth,
--- title, description, tags, expose (and any other field) are kept as given.
--- pikku.func(fn) is short for pikku.func { func = fn }.
function M.func(def)
  if type(def) == "function" then
    def = { func = def }
  end
  if type(def) ~= "table" then
    error("pikku.func: expected a table { func = function(services, data, wire) ... end }, got "
      .. type(def), 2)
  end
  if type(def.func) ~= "function" then
    error("pikku.func: field 'func' must be a function, got " .. type(def.func), 2)
  end
  if getmetatable(def) == nil then
    setmetatable(def, FuncDef)
  elseif getmetatable(def) ~= FuncDef then
    error("pikku.func: the definition table already has a metatable", 2)
  end
  return def
end

--- pikku.is_func(value) -> true when value came from pikku.func
function M.is_func(v)
  return type(v) == "table" and getmetatable(v) == FuncDef
end

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true,
                  HEAD = true, OPTIONS = true }

--- pikku.wire_http { method = "get", route = "/books/:id", func = def_or_function,
---                   auth = bool?, raw_body = bool? }
function M.wire_http(w)
  if type(w) ~= "table" then
    error("pikku.wire_http: expected a table { method = ..., route = ..., func = ... }", 2)
  end
  local method = w.method
  if type(method) ~= "string" or not METHODS[upper(method)] then
    error("pikku.wire_http: method must be one of get, post, put, patch, delete, head, options; got "
      .. (type(method) == "string" and ('"' .. method .. '"') or type(method)), 2)
  end
  local route = w.route
  if type(route) ~= "string" or sub(route, 1, 1) ~= "/" then
    error("pikku.wire_http: route must be a string starting with '/', got "
      .. (type(route) == "string" and ('"' .. route .. '"') or type(route)), 2)
  end
  local def = w.func
  if type(def) == "function" then
    def = M.func { func = def }
  elseif not M.is_func(def) then
    error("pikku.wire_http: func must be a pikku.func definition or a function, got " .. type(def)
      .. " (route " .. upper(method) .. " " .. route .. ")", 2)
  end
  local wiring = {}
  for k, v in pairs(w) do wiring[k] = v end
  wiring.method = upper(method)
  wiring.route = route
  wiring.def = def
  wiring.func = nil
  wiring.raw_body = w.raw_body and true or false
  wiring.place = place(2)
  local list = registry.wirings
  list[#list + 1] = wiring
end

--- pikku.config(t) -> t: the table given to functions as services.config.
function M.config(t)
  if type(t) ~= "table" then
    error("pikku.config: expected a table, got " .. type(t), 2)
  end
  registry.config = t
  return t
end

--- pikku.singleton_services(factory_or_table): factory(config) returns a table whose fields are
--- added to the services every function receives (called once per load, after app.lua).
function M.singleton_services(f)
  if type(f) ~= "function" and type(f) ~= "table" then
    error("pikku.singleton_services: expected a function(config) or a table, got " .. type(f), 2)
  end
  registry.singleton_factory = f
end

local runtime_sleep
--- pikku.sleep(ms): suspends the current call for ms milliseconds without blocking others.
function M.sleep(ms)
  if not runtime_sleep then
    runtime_sleep = require("pikku.runtime").sleep
  end
  return runtime_sleep(ms)
end

return M
