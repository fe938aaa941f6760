-- The API apps write against: functions, HTTP wiring, groups, middleware, auth, CORS, config and services.
local M = {}

local errors = require "pikku.errors"
local fields = require "pikku.fields"

local type, tostring, pairs, ipairs = type, tostring, pairs, ipairs
local setmetatable, getmetatable = setmetatable, getmetatable
local error, require = error, require
local getinfo = debug.getinfo
local upper, sub, find, gsub, format = string.upper, string.sub, string.find, string.gsub, string.format

M.errors = errors
M.VERSION = "0.1.0"

-- pikku.json (encode that keeps pikku.json.array() as [], decode, null) needs the host's C module,
-- so it loads on first use: plain `require "pikku"` keeps working outside the host.
-- The outbound clients load the same way (pikku.outbound_api): pikku.http (request, get, post,
-- json beside the wire.http helpers), pikku.socket, pikku.redis, pikku.pg.
local LAZY = { http = true, socket = true, redis = true, pg = true }
setmetatable(M, { __index = function(t, k)
  if k == "json" then
    local json = require "pikku.json"
    rawset(t, "json", json)
    return json
  end
  if LAZY[k] then
    local v = require("pikku.outbound_api")[k]
    rawset(t, k, v)
    return v
  end
end })

-- secrets already warned about as short in this process (shared with pikku.secret)
local short_warned = require("pikku.secrets").short_warned

-- Registrations made by app.lua; pikku.runtime reads and clears them on every load.
local registry
--- Clears every registration (pikku.runtime calls this before running app.lua).
function M._reset()
  registry = {
    wirings = {},        -- list of { method, route, def, auth, raw_body, middleware, group, place, ... }
    statics = {},        -- list of pikku.wire_static registrations (see pikku.static)
    channels = {},       -- list of pikku.wire_channel registrations (see M.wire_channel)
    schedules = {},      -- list of pikku.wire_scheduler registrations (pikku.wire_jobs)
    queues = {},         -- list of pikku.wire_queue_worker registrations (pikku.wire_jobs)
    funcs = {},          -- list of every pikku.func definition, in declaration order
    func_place = {},     -- def -> "file:line" of its pikku.func call
    config = {},
    singleton_factory = nil,
    session_factory = nil,
    middleware = {},     -- global middleware (pikku.use), in order
    cors = nil,          -- the table given to pikku.cors
    auth = nil,          -- the table given to pikku.auth
    limits = nil,        -- the table given to pikku.limits
  }
  M._registry = registry
end
M._reset()

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

-- Raises (at the app's line) unless list is nil or a list of functions.
local function check_middleware(list, what, level)
  if list == nil then return end
  if type(list) ~= "table" then
    error(what .. ": middleware must be a list of functions, got " .. type(list), level + 1)
  end
  for i, mw in ipairs(list) do
    if type(mw) ~= "function" then
      error(what .. ": middleware #" .. i .. " must be a function(services, wire, next), got " .. type(mw),
        level + 1)
    end
  end
end

local function check_auth(v, what, level)
  if v ~= nil and type(v) ~= "boolean" then
    error(what .. ": auth must be true or false, got " .. type(v), level + 1)
  end
end

-- permissions = fn | { key = fn | { fn, ... } }: raises unless it has that shape.
local function check_permissions(p, what, level)
  if p == nil or type(p) == "function" then return end
  if type(p) ~= "table" then
    error(what .. ": permissions must be a table { name = fn or { fn, ... } }, got " .. type(p), level + 1)
  end
  for k, v in pairs(p) do
    if type(v) == "table" then
      if v[1] == nil then
        error(what .. ": permissions." .. tostring(k) .. " is an empty list", level + 1)
      end
      for i, f in ipairs(v) do
        if type(f) ~= "function" then
          error(what .. ": permissions." .. tostring(k) .. "[" .. i
            .. "] must be a function(services, data, session), got " .. type(f), level + 1)
        end
      end
    elseif type(v) ~= "function" then
      error(what .. ": permissions." .. tostring(k)
        .. " must be a function(services, data, session) or a list of them, got " .. type(v), level + 1)
    end
  end
end

-- timeout_ms = n: a call's time limit in ms (an integer, 0: none), as in pikku.func and pikku.limits.
local function check_timeout(v, what, level)
  if v ~= nil and (type(v) ~= "number" or v < 0 or v ~= math.floor(v) or v > 86400000) then
    error(what .. ": timeout_ms must be a whole number of milliseconds from 0 (no limit) to 86400000, got "
      .. tostring(v), level + 1)
  end
end
M._check_timeout = check_timeout

-- pikku.func's work; level: the app's frame (2: the caller of pikku.func).
local function func_def(def, level)
  if type(def) == "function" then
    def = { func = def }
  end
  if type(def) ~= "table" then
    error("pikku.func: expected a table { func = function(services, data, wire) ... end }, got "
      .. type(def), level + 1)
  end
  if type(def.func) ~= "function" then
    error("pikku.func: field 'func' must be a function, got " .. type(def.func), level + 1)
  end
  if getmetatable(def) == FuncDef then return def end
  if getmetatable(def) ~= nil then
    error("pikku.func: the definition table already has a metatable", level + 1)
  end
  local what = "pikku.func" .. (def.name and (' "' .. tostring(def.name) .. '"') or "")
  fields.check(def, fields.func, what, level + 1)
  if def.name ~= nil and (type(def.name) ~= "string" or def.name == "" or find(def.name, "[/%s]")) then
    error(what .. ": name must be a non-empty string without '/' or spaces", level + 1)
  end
  if def.expose and def.name == nil then
    error("pikku.func: expose = true needs a name (it is the RPC name: POST /rpc/<name>)", level + 1)
  end
  check_auth(def.auth, what, level + 1)
  check_middleware(def.middleware, what, level + 1)
  check_permissions(def.permissions, what, level + 1)
  check_timeout(def.timeout_ms, what, level + 1)
  setmetatable(def, FuncDef)
  local funcs = registry.funcs
  funcs[#funcs + 1] = def
  registry.func_place[def] = place(level + 1)
  return def
end

--- pikku.func(def) -> def. def.func(services, data, wire) is required. Optional: name, input,
--- output, auth (default true), permissions, middleware, expose, timeout_ms, title, description,
--- tags (any other field is a load error: see pikku.fields). pikku.func(fn) is short for
--- pikku.func { func = fn }.
function M.func(def)
  local d = func_def(def, 2)   -- not a tail call: the levels count this frame
  return d
end

--- pikku.native_func { lib = "name", symbol = "c_function", input?, output?, auth?, ... } -> def: a
--- function whose body is the C function `symbol` of the app's library `lib`
--- (APP_DIR/.pikku/native/<lib>.so, built by `pikku build` from APP_DIR/native/<lib>.c), wired like
--- any pikku.func (same schemas, permissions, middleware, transports, errors). See docs/native.md.
function M.native_func(def)
  if type(def) ~= "table" then
    error('pikku.native_func: expected a table { lib = "name", symbol = "c_function", ... }, got ' .. type(def), 2)
  end
  local what = "pikku.native_func" .. (def.name and (' "' .. tostring(def.name) .. '"') or "")
  fields.check(def, fields.native_func, what, 2)
  for _, k in ipairs { "lib", "symbol" } do
    if type(def[k]) ~= "string" or def[k] == "" then
      error(what .. ": " .. k .. " must be a non-empty string (" .. (k == "lib" and
        'the library: "thumbs" for native/thumbs.c' or "the C function's name") .. ")", 2)
    end
  end
  local ok, fn = pcall(require("pikku.native").make, def.lib, def.symbol, what)
  if not ok then error(fn, 2) end
  local copy = {}
  for k, v in pairs(def) do copy[k] = v end
  copy.lib, copy.symbol, copy.func = nil, nil, fn
  local d = func_def(copy, 2)
  d.native = { lib = def.lib, symbol = def.symbol }   -- for tools (pikku routes, OpenAPI)
  return d
end

--- pikku.native_lib(name, cdefs?) -> the FFI namespace of the app's library `name` (a fresh copy of
--- APP_DIR/.pikku/native/<name>.so loaded with ffi.load; ffi.cdef(cdefs) first when given).
function M.native_lib(name, cdefs)
  return require("pikku.native").lib(name, cdefs)
end

--- pikku.is_func(value) -> true when value came from pikku.func
function M.is_func(v)
  return type(v) == "table" and getmetatable(v) == FuncDef
end

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true,
                  HEAD = true, OPTIONS = true }

-- Checks one wiring table and appends it to the registry; level points at the app's line.
local function add_wiring(w, group, level, what)
  if type(w) ~= "table" then
    error(what .. ": expected a table { method = ..., route = ..., func = ... }", level + 1)
  end
  fields.check(w, fields.wire_http, what, level + 1)
  local method = w.method
  if type(method) ~= "string" or not METHODS[upper(method)] then
    error(what .. ": method must be one of get, post, put, patch, delete, head, options; got "
      .. (type(method) == "string" and ('"' .. method .. '"') or type(method)), level + 1)
  end
  local route = w.route
  if type(route) ~= "string" or sub(route, 1, 1) ~= "/" then
    error(what .. ": route must be a string starting with '/', got "
      .. (type(route) == "string" and ('"' .. route .. '"') or type(route)), level + 1)
  end
  if group then
    local base = group.base_path
    if route == "/" then route = base else route = base .. route end
  end
  local def = w.func
  local bare = false
  if type(def) == "function" then
    -- a bare function is a public route: wrap it, but not through M.func (not an RPC target)
    def = setmetatable({ func = def, auth = false }, FuncDef)
    bare = true
  elseif not M.is_func(def) then
    error(what .. ": func must be a pikku.func definition or a function, got " .. type(def)
      .. " (route " .. upper(method) .. " " .. route .. ")", level + 1)
  end
  check_auth(w.auth, what, level + 1)
  check_middleware(w.middleware, what, level + 1)
  local wiring = {}
  for k, v in pairs(w) do wiring[k] = v end
  wiring.method = upper(method)
  wiring.route = route
  wiring.def = def
  wiring.bare = bare
  wiring.func = nil
  wiring.raw_body = w.raw_body and true or false
  local mb = w.max_body
  if mb ~= nil and (type(mb) ~= "number" or mb < 1 or mb ~= math.floor(mb)) then
    error(what .. ": max_body must be a whole number of bytes (the route's body limit), got " .. tostring(mb),
      level + 1)
  end
  wiring.group = group
  wiring.place = place(level + 1)
  if bare then registry.func_place[def] = wiring.place end
  local list = registry.wirings
  list[#list + 1] = wiring
end

--- pikku.wire_http { method = "get", route = "/books/:id", func = def_or_function,
---                   auth = bool?, middleware = { mw, ... }?, raw_body = bool?, tags = {...}? }
--- A bare Lua function as func is a public route (auth = false).
function M.wire_http(w)
  add_wiring(w, nil, 2, "pikku.wire_http")
end

--- pikku.wire_static { route = "/assets/*path", dir = "public", index?, max_age?, immutable?, spa?,
---                     precompressed?, dotfiles? }: files beneath dir, served by the core (pikku.static).
function M.wire_static(s)
  local list = registry.statics
  list[#list + 1] = require("pikku.static").check(s, place(2), 2)
end

--- pikku.http_group { base_path = "/admin", auth = bool?, middleware = {...}?, tags = {...}?,
---                    routes = { { method, route, func, ... }, ... } }
function M.http_group(g)
  if type(g) ~= "table" then
    error("pikku.http_group: expected a table { base_path = ..., routes = { ... } }", 2)
  end
  fields.check(g, fields.http_group, "pikku.http_group", 2)
  local base = g.base_path or ""
  if type(base) ~= "string" or (base ~= "" and sub(base, 1, 1) ~= "/") then
    error("pikku.http_group: base_path must be a string starting with '/', got " .. tostring(base), 2)
  end
  base = gsub(base, "/+$", "")
  check_auth(g.auth, "pikku.http_group", 2)
  check_middleware(g.middleware, "pikku.http_group", 2)
  if type(g.routes) ~= "table" then
    error("pikku.http_group: routes must be a list of wirings { method = ..., route = ..., func = ... }", 2)
  end
  local group = { base_path = base, auth = g.auth, middleware = g.middleware, tags = g.tags }
  for i, w in ipairs(g.routes) do
    add_wiring(w, group, 2, "pikku.http_group (" .. (base ~= "" and base or "/") .. ") route #" .. i)
  end
end

-- A channel handler: a pikku.func definition, or a bare function (wrapped as a public one).
local function channel_def(v, what, level)
  if type(v) == "function" then
    local def = setmetatable({ func = v, auth = false }, FuncDef)
    registry.func_place[def] = place(level + 1)
    return def
  end
  if M.is_func(v) then return v end
  error(what .. " must be a pikku.func definition or a function(services, data, wire), got " .. type(v),
    level + 1)
end

M._as_func = channel_def   -- for pikku.wire_jobs: a handler as a pikku.func definition

--- pikku.wire_scheduler { name, schedule, func, timezone?, overlap?, catch_up? }: runs func on a
--- cron schedule, each tick on one worker (see docs/schedules.md and pikku.wire_jobs).
function M.wire_scheduler(s)
  require("pikku.wire_jobs").scheduler(s, registry, M)
end

--- pikku.wire_queue_worker { name, func, concurrency?, retry_attempts?, retry_delay?, retry_backoff?,
--- timeout?, dead_letter?, input? }: runs func for every job added to the queue (docs/queues.md).
function M.wire_queue_worker(q)
  require("pikku.wire_jobs").queue_worker(q, registry, M)
end

--- pikku.wire_channel { name, route, auth?, middleware?, on_connect?, on_disconnect?, on_message?,
---                      on_binary?, on_message_wiring = { <routing key> = { <value> = handler } } }
--- A handler is a pikku.func, a function, or { func = ..., auth = bool?, middleware = {...}? }.
--- See docs/lua-api.md (Channels).
function M.wire_channel(c)
  local what = "pikku.wire_channel"
  if type(c) ~= "table" then
    error(what .. ": expected a table { name = ..., route = ..., on_message_wiring = { ... } }", 2)
  end
  if type(c.name) ~= "string" or c.name == "" then
    error(what .. ": name must be a non-empty string", 2)
  end
  what = what .. ' "' .. c.name .. '"'
  fields.check(c, fields.wire_channel, what, 2)
  local route = c.route
  if type(route) ~= "string" or sub(route, 1, 1) ~= "/" then
    error(what .. ": route must be a string starting with '/', got "
      .. (type(route) == "string" and ('"' .. route .. '"') or type(route)), 2)
  end
  check_auth(c.auth, what, 2)
  check_middleware(c.middleware, what, 2)
  local protocols = c.protocols
  if protocols ~= nil then
    if type(protocols) ~= "table" or #protocols == 0 then
      error(what .. ': protocols must be a non-empty list of subprotocol names, e.g. { "chat.v2", "chat" }', 2)
    end
    for i, p in ipairs(protocols) do   -- RFC 6455 4.1: a subprotocol name is an RFC 2616 token
      if type(p) ~= "string" or p == "" or find(p, "[^%w!#$%%&'*+%-.^_`|~]") then
        error(what .. ": protocols[" .. i .. "] must be a token (letters, digits, !#$%&'*+-.^_`|~), got "
          .. (type(p) == "string" and ('"' .. p .. '"') or type(p)), 2)
      end
    end
  end
  for _, other in ipairs(registry.channels) do
    if other.name == c.name then
      error(format('channel "%s" is wired twice (%s and %s)', c.name, other.place, place(2)), 2)
    end
  end
  local ch = { name = c.name, route = route, auth = c.auth, middleware = c.middleware, place = place(2),
               keys = {}, protocols = protocols }
  for _, k in ipairs { "on_connect", "on_disconnect", "on_message", "on_binary" } do
    if c[k] ~= nil then ch[k] = channel_def(c[k], what .. ": " .. k, 2) end
  end
  local mw = c.on_message_wiring
  if mw ~= nil then
    if type(mw) ~= "table" then
      error(what .. ": on_message_wiring must be a table { <routing key> = { <value> = handler, ... } }", 2)
    end
    local names = {}
    for key in pairs(mw) do
      if type(key) ~= "string" or key == "" or key == "id" then
        error(what .. ": on_message_wiring: a routing key must be a non-empty string other than \"id\", got "
          .. (type(key) == "string" and ('"' .. key .. '"') or type(key)), 2)
      end
      names[#names + 1] = key
    end
    table.sort(names)   -- a message with two routing keys goes by the first in this order
    for _, key in ipairs(names) do
      local handlers = mw[key]
      if type(handlers) ~= "table" then
        error(what .. ": on_message_wiring." .. key .. " must be a table { <value> = handler, ... }", 2)
      end
      local list = {}
      for value, h in pairs(handlers) do
        if type(value) ~= "string" or value == "" then
          error(what .. ": on_message_wiring." .. key .. ": values must be non-empty strings", 2)
        end
        local hw = what .. ": on_message_wiring." .. key .. "." .. value
        local entry
        if type(h) == "table" and not M.is_func(h) then
          fields.check(h, fields.channel_entry, hw, 2)
          check_auth(h.auth, hw, 2)
          check_middleware(h.middleware, hw, 2)
          if h.func == nil then error(hw .. ": a table handler needs func = a pikku.func or a function", 2) end
          entry = { def = channel_def(h.func, hw .. ".func", 2), auth = h.auth, middleware = h.middleware }
        else
          entry = { def = channel_def(h, hw, 2) }
        end
        entry.value = value
        list[value] = entry
      end
      ch.keys[#ch.keys + 1] = { key = key, handlers = list }
    end
  end
  local list = registry.channels
  list[#list + 1] = ch
end

--- pikku.use(mw): global middleware, run first for every HTTP call, POST /rpc and channel message
--- (before group or channel, wiring and function middleware), in the order pikku.use was called.
function M.use(mw)
  if type(mw) ~= "function" then
    error("pikku.use: expected a function(services, wire, next), got " .. type(mw), 2)
  end
  local list = registry.middleware
  list[#list + 1] = mw
end

local function check_string_list(v, what)
  if v == nil then return end
  if type(v) ~= "table" then error(what .. " must be a list of strings", 3) end
  for i, s in ipairs(v) do
    if type(s) ~= "string" then error(what .. "[" .. i .. "] must be a string", 3) end
  end
end

--- pikku.cors { origins = { "https://a.example" } or "*", methods?, headers?, expose_headers?,
---              credentials?, max_age? }
function M.cors(c)
  if type(c) ~= "table" then
    error("pikku.cors: expected a table { origins = { ... } or \"*\", ... }", 2)
  end
  fields.check(c, fields.cors, "pikku.cors", 2)
  local origins = c.origins
  if origins ~= "*" then
    if type(origins) ~= "table" or origins[1] == nil then
      error('pikku.cors: origins must be "*" or a non-empty list of origins such as "https://app.example"', 2)
    end
    check_string_list(origins, "pikku.cors: origins")
  end
  if origins == "*" and c.credentials then
    error('pikku.cors: origins = "*" cannot be combined with credentials = true (browsers refuse it);'
      .. " list the allowed origins instead", 2)
  end
  check_string_list(c.methods, "pikku.cors: methods")
  check_string_list(c.headers, "pikku.cors: headers")
  check_string_list(c.expose_headers, "pikku.cors: expose_headers")
  if c.max_age ~= nil and type(c.max_age) ~= "number" then
    error("pikku.cors: max_age must be a number of seconds", 2)
  end
  registry.cors = c
end

--- pikku.auth { cookie = {...}?, jwt = {...}?, api_key = {...}?, csrf = bool? }: session sources.
function M.auth(a)
  if type(a) ~= "table" then
    error("pikku.auth: expected a table { cookie = ..., jwt = ..., api_key = ... }", 2)
  end
  fields.check(a, fields.auth, "pikku.auth", 2)
  local function secrets(t, what)
    local s = t.secrets
    if type(s) == "string" then s = { s } end
    if type(s) ~= "table" or s[1] == nil then
      error("pikku.auth: " .. what .. ".secrets must be a non-empty list of strings (the first signs)", 3)
    end
    for i, v in ipairs(s) do
      if type(v) ~= "string" or v == "" then
        error("pikku.auth: " .. what .. ".secrets[" .. i .. "] must be a non-empty string", 3)
      end
      if #v < 32 and not short_warned[v] then   -- works, but is guessable offline from one signed token or cookie
        short_warned[v] = true   -- once per secret (cookie and jwt often share one)
        local ok, core = pcall(require, "pikku.core")
        if ok and type(core) == "table" and core.log then
          core.log("warn", format("%s: pikku.auth: %s.secrets[%d] is %d bytes; use at least 32 random bytes"
            .. " (openssl rand -base64 32)", place(3), what, i, #v))
        end
      end
    end
    return s
  end
  local cfg = { csrf = a.csrf ~= false }
  if a.cookie ~= nil then
    if type(a.cookie) ~= "table" then error("pikku.auth: cookie must be a table", 2) end
    local c = a.cookie
    fields.check(c, fields.auth_cookie, "pikku.auth: cookie", 2)
    cfg.cookie = {
      name = c.name or "pikku_session", secrets = secrets(c, "cookie"), secure = c.secure and true or false,
      max_age = c.max_age or 86400, same_site = c.same_site, path = c.path, domain = c.domain,
    }
    if type(cfg.cookie.name) ~= "string" or cfg.cookie.name == "" then
      error("pikku.auth: cookie.name must be a non-empty string", 2)
    end
  end
  if a.jwt ~= nil then
    if type(a.jwt) ~= "table" then error("pikku.auth: jwt must be a table", 2) end
    fields.check(a.jwt, fields.auth_jwt, "pikku.auth: jwt", 2)
    cfg.jwt = { secrets = secrets(a.jwt, "jwt"), expires_in = a.jwt.expires_in }
  end
  if a.api_key ~= nil then
    local k = a.api_key
    if type(k) ~= "table" or type(k.check) ~= "function" then
      error("pikku.auth: api_key must be a table with check = function(services, key) -> session or nil", 2)
    end
    fields.check(k, fields.auth_api_key, "pikku.auth: api_key", 2)
    if k.header == nil and k.query == nil then
      error("pikku.auth: api_key needs a header name, a query parameter name, or both", 2)
    end
    cfg.api_key = { header = k.header, query = k.query, check = k.check }
  end
  registry.auth = cfg
end

--- pikku.schema(name, def): registers a named schema for $ref (see pikku.schema).
function M.schema(name, def)
  return require("pikku.schema").register(name, def)
end

--- pikku.env(name, default) -> the environment variable's value, or default when unset or empty.
function M.env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

--- pikku.secret { env = "NAME"?, file = "path" } -> secret, source: the app's signing secret: the
--- environment variable when set (at least 32 bytes, unless --dev), else the file's, the file being
--- generated (32 random bytes, mode 0600, created atomically) when missing. Under `pikku test`
--- without the variable: a random secret for the run, no file. See docs/lua-api.md.
function M.secret(opts)
  return require("pikku.secrets").load(opts, place(2))
end

--- pikku.config(t) -> t: the table given to functions as services.config.
function M.config(t)
  if type(t) ~= "table" then
    error("pikku.config: expected a table, got " .. type(t), 2)
  end
  registry.config = t
  return t
end

--- pikku.limits { timeout_ms = n }: the app's limits. timeout_ms: the time limit of a call (ms; 0:
--- none) unless its function sets its own; default --call-timeout-ms (30000). See docs/server.md.
function M.limits(t)
  if type(t) ~= "table" then error("pikku.limits: expected a table { timeout_ms = ... }, got " .. type(t), 2) end
  fields.check(t, fields.limits, "pikku.limits", 2)
  check_timeout(t.timeout_ms, "pikku.limits", 2)
  registry.limits = t
end

--- pikku.rpc_max_depth(n): how deeply functions may call each other through rpc.invoke (default 16).
function M.rpc_max_depth(n)
  if type(n) ~= "number" or n ~= math.floor(n) or n < 1 or n > 1000 then
    error("pikku.rpc_max_depth: expected an integer from 1 to 1000, got " .. tostring(n), 2)
  end
  registry.rpc_max_depth = n
end

--- pikku.singleton_services(factory_or_table): factory(config) returns a table whose fields are
--- added to the services every function receives (called once per load, after app.lua).
function M.singleton_services(f)
  if type(f) ~= "function" and type(f) ~= "table" then
    error("pikku.singleton_services: expected a function(config) or a table, got " .. type(f), 2)
  end
  registry.singleton_factory = f
end

--- pikku.session_services(factory): factory(services, wire) returns a table of per-call services,
--- made after auth and permissions for every call; its `close` (if any) runs after the call.
function M.session_services(f)
  if type(f) ~= "function" then
    error("pikku.session_services: expected a function(services, wire), got " .. type(f), 2)
  end
  registry.session_factory = f
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
