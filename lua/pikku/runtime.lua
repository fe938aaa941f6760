-- The C core's entry points (see docs/internals.md): load an app, dispatch requests, resume timers.
local M = {}

local core = require "pikku.core"
local cjson_safe = require "cjson.safe"
local pikku = require "pikku"
local errors = require "pikku.errors"
local http = require "pikku.http"

local type, tostring, tonumber, pairs, ipairs, select, next, error, xpcall, loadfile =
  type, tostring, tonumber, pairs, ipairs, select, next, error, xpcall, loadfile
local find, sub, match, gsub, format, lower, concat =
  string.find, string.sub, string.match, string.gsub, string.format, string.lower, table.concat
local co_create, co_resume, co_yield, co_running =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.running
local traceback, getinfo = debug.traceback, debug.getinfo
local json_encode, json_decode, json_null = cjson_safe.encode, cjson_safe.decode, cjson_safe.null
local core_respond, core_header, core_timer, core_gen_id, core_log, core_log_error =
  core.respond, core.header, core.timer, core.gen_id, core.log, core.log_error
local is_error = errors.is
local unescape, parse_pairs, http_new, header_lines =
  http.unescape, http.parse_pairs, http.new, http.header_lines

local JSON = "application/json"
local TEXT = "text/plain; charset=utf-8"
local OCTETS = "application/octet-stream"
local POOL_MAX = 1024

-- ---- state of the loaded app ------------------------------------------------------------------

local routes = {}     -- index -> { def, func, raw_body, names (list or nil), name_set, n, method, route, place }
local services = {}   -- the table every function receives first
local dev = false

-- ---- coroutines -------------------------------------------------------------------------------

local DONE, SLEEPING = {}, {}   -- private markers a runner yields to say why it stopped
local pool, pool_n = {}, 0      -- idle runner coroutines
local calls = {}                -- coroutine -> the wire.http object of the call it runs
local waiting = {}              -- timer token -> coroutine sleeping on it
local timer_seq = 0

-- ---- errors -----------------------------------------------------------------------------------

local last_traceback   -- set by on_error just before xpcall returns false

-- xpcall handler: keeps the error value, records a traceback when it will be logged.
local function on_error(e)
  if is_error(e) and e.status < 500 then
    last_traceback = nil
  else
    last_traceback = traceback(tostring(e), 2)
  end
  return e
end

local function request_id(handle)
  local id = core_header(handle, "x-request-id")
  if id == nil or id == "" or #id > 200 or find(id, "%c") then
    id = core_gen_id()
  end
  return id
end

-- Responds with an error; e is a pikku error or any other value raised. Never raises.
local function respond_error(handle, e, tb, extra)
  local id = request_id(handle)
  local name, status, message, payload
  if is_error(e) then
    name, status, message, payload = e.name, e.status, e.message, e.payload
    if status >= 500 then
      core_log_error(id, tb or tostring(e))
      if not dev then message = errors.DEFAULT_MESSAGE[name] or "Internal server error" end
    end
  else
    local text = tostring(e)
    core_log_error(id, tb or text)
    name, status = "InternalServerError", 500
    message = dev and text or "Internal server error"
  end
  local body = json_encode({ name = name, message = message, payload = payload, errorId = id })
  if body == nil then   -- a payload cjson cannot encode
    body = json_encode({ name = name, message = message, errorId = id })
  end
  core_respond(handle, status, body, JSON, extra, id)
end

-- ---- finishing a call -------------------------------------------------------------------------

local NO_BODY = { [204] = true, [304] = true }

local function finish(h, ok, res)
  if h._done then return end
  h._done = true
  local handle = h.handle
  if not ok then
    local tb = last_traceback
    last_traceback = nil
    return respond_error(handle, res, tb, header_lines(h))
  end
  local status, body, ctype = h._status, nil, nil
  if h._sent then
    body = h._sent_body
    ctype = h._sent_type or h._ctype or (body and OCTETS)
    status = status or 200
  elseif res == nil then
    status = status or 204
  else
    local t = type(res)
    if t == "string" then
      body, ctype = res, h._ctype or TEXT
    else
      local err
      body, err = json_encode(res)
      if body == nil then
        return respond_error(handle, "the function's result cannot be encoded as JSON: " .. tostring(err),
          nil, header_lines(h))
      end
      ctype = h._ctype or JSON
    end
    status = status or 200
  end
  if NO_BODY[status] then body, ctype = nil, nil end
  core_respond(handle, status, body, ctype, header_lines(h), nil)
end

-- The body of every runner coroutine: run a call, say DONE, wait for the next one.
local function runner(fn, h, data)
  while true do
    local ok, res = xpcall(fn, on_error, services, data, h._wire)
    finish(h, ok, res)
    fn, h, data = co_yield(DONE)
  end
end

-- After a runner coroutine stops (finished, sleeping, or broken), put it where it belongs.
local function settle(co, ok, res)
  if ok and res == DONE then
    calls[co] = nil
    if pool_n < POOL_MAX then
      pool_n = pool_n + 1
      pool[pool_n] = co
    end
    return
  end
  if ok and res == SLEEPING then return end
  -- the function yielded by itself, or the runner broke: the coroutine is dropped
  local h = calls[co]
  calls[co] = nil
  local msg
  if ok then
    msg = "the function yielded outside a pikku service (coroutine.yield is not allowed in a call;"
      .. " use services.sleep or another pikku service)"
  else
    msg = "pikku runtime failure: " .. tostring(res)
  end
  if h and not h._done then
    h._done = true
    respond_error(h.handle, msg, traceback(co, msg), nil)
  else
    core_log("error", msg)
  end
end

-- ---- building data ----------------------------------------------------------------------------

local function same(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function pointer(k)
  k = gsub(gsub(tostring(k), "~", "~0"), "/", "~1")
  return "/" .. k
end

local function conflict(k, first, second)
  local msg = format('"%s" has different values in the %s and the %s', tostring(k), first, second)
  return errors.UnprocessableContent(msg, { errors = { { path = pointer(k), message = msg } } })
end

-- Merges src into data; returns a pikku error on the first key with two different values.
local function merge(data, src, r, source)
  for k, v in pairs(src) do
    local old = data[k]
    if old == nil then
      data[k] = v
    elseif not same(old, v) then
      return conflict(k, r.name_set[k] and "path" or "query", source)
    end
  end
  return nil
end

local function merge_one(data, k, v, r)
  local old = data[k]
  if old == nil then
    data[k] = v
  elseif not same(old, v) then
    return conflict(k, r.name_set[k] and "path" or "query", "body")
  end
  return nil
end

local NO_BODY_METHODS = { GET = true, HEAD = true, DELETE = true }

-- "application/json; charset=utf-8" -> "json"; nil for types the runtime does not parse
local KIND = {
  ["application/json"] = "json",
  ["application/x-www-form-urlencoded"] = "form",
  ["text/plain"] = "text",
}
local function body_kind(ct)
  local base = lower(match(ct, "^%s*([^;%s]+)") or "")
  local kind = KIND[base]
  if kind == nil and find(base, "^application/[^/]+%+json$") then kind = "json" end
  return kind, base
end

-- Adds the body to data; returns data (maybe a new table) and a pikku error or nil.
local function add_body(data, r, handle, body)
  local ct = core_header(handle, "content-type")
  if ct == nil then
    return data, errors.UnsupportedMediaType(
      "the request has a body but no Content-Type; send application/json,"
      .. " application/x-www-form-urlencoded or text/plain")
  end
  local kind, base = body_kind(ct)
  if kind == "json" then
    local v, err = json_decode(body)
    if v == nil then
      return data, errors.BadRequest("malformed JSON body: " .. tostring(err))
    end
    if type(v) == "table" and match(body, "^%s*{") then
      if next(data) == nil then return v, nil end
      return data, merge(data, v, r, "body")
    end
    if v == json_null then return data, nil end
    return data, merge_one(data, "data", v, r)
  elseif kind == "form" then
    if next(data) == nil then return parse_pairs(body, data), nil end
    return data, merge(data, parse_pairs(body, {}), r, "body")
  elseif kind == "text" then
    return data, merge_one(data, "data", body, r)
  end
  return data, errors.UnsupportedMediaType(format(
    'unsupported Content-Type "%s"; send application/json, application/x-www-form-urlencoded'
    .. " or text/plain (or wire the route with raw_body = true)", base))
end

-- ---- dispatch ---------------------------------------------------------------------------------

local function dispatch(handle, index, method, path, query, body, ...)
  local r = routes[index]
  if r == nil then
    return respond_error(handle, "dispatch: no route with index " .. tostring(index), nil, nil)
  end
  local h = http_new(handle, method, path, query, body, nil)
  local data = {}
  local n = r.n
  if n > 0 then
    local names = r.names
    local p1, p2 = ...
    local params = { [names[1]] = unescape(p1 or "") }
    if n > 1 then
      params[names[2]] = unescape(p2 or "")
      for i = 3, n do
        params[names[i]] = unescape((select(i, ...)) or "")
      end
    end
    h._params = params
    for k, v in pairs(params) do data[k] = v end
  end
  if query ~= nil and query ~= "" then
    if n == 0 then
      parse_pairs(query, data)
    else
      local err = merge(data, parse_pairs(query, {}), r, "query")
      if err then return respond_error(handle, err, nil, nil) end
    end
  end
  if body ~= nil and body ~= "" and not r.raw_body and not NO_BODY_METHODS[method] then
    local err
    data, err = add_body(data, r, handle, body)
    if err then return respond_error(handle, err, nil, nil) end
  end
  h._wire = { http = h }

  local co
  if pool_n > 0 then
    co = pool[pool_n]
    pool[pool_n] = nil
    pool_n = pool_n - 1
  else
    co = co_create(runner)
  end
  calls[co] = h
  local ok, res = co_resume(co, r.func, h, data)
  return settle(co, ok, res)
end

-- Never lets an error escape to C (the contract says dispatch must not raise).
local function safe_dispatch(handle, ...)
  local ok, err = xpcall(dispatch, traceback, handle, ...)
  if not ok then
    core_log("error", "pikku dispatch failure: " .. tostring(err))
    core_respond(handle, 500, '{"name":"InternalServerError","message":"Internal server error"}', JSON, nil, nil)
  end
end

local function resume(token)
  local co = waiting[token]
  if co == nil then return end
  waiting[token] = nil
  local ok, res = co_resume(co)
  return settle(co, ok, res)
end

local function safe_resume(token)
  local ok, err = xpcall(resume, traceback, token)
  if not ok then core_log("error", "pikku resume failure: " .. tostring(err)) end
end

--- runtime.sleep(ms): suspends the running call; the core resumes it after ms milliseconds.
function M.sleep(ms)
  local co = co_running()
  if co == nil or calls[co] == nil then
    error("pikku.sleep: called outside a function call; sleep only works in code that runs for a"
      .. " request (inside the function, not at load time or in a coroutine of your own)", 2)
  end
  local n = tonumber(ms)
  if n == nil or n < 0 then
    error("pikku.sleep: ms must be a number >= 0, got " .. tostring(ms), 2)
  end
  timer_seq = timer_seq + 1
  local token = timer_seq
  waiting[token] = co
  core_timer(n, token)
  co_yield(SLEEPING)
end

-- ---- loading ----------------------------------------------------------------------------------

-- Turns any error raised while loading into a "file:line: message" string.
local function load_error(e)
  local msg = tostring(e)
  if find(msg, "^[^\n]-:%d+: ") then return msg end
  for level = 2, 30 do
    local info = getinfo(level, "Sl")
    if not info then break end
    if info.currentline and info.currentline > 0 and sub(info.source or "", 1, 1) == "@" then
      return sub(info.source, 2) .. ":" .. info.currentline .. ": " .. msg
    end
  end
  return "?:0: " .. msg
end

-- "/a/:id/*rest" -> shape "/a/:/*", names { "id", "rest" } (or an error message)
local function parse_route(route)
  local shape, names, set = {}, {}, {}
  local segs = {}
  local rest = sub(route, 2)
  while true do
    local slash = find(rest, "/", 1, true)
    if slash then
      segs[#segs + 1] = sub(rest, 1, slash - 1)
      rest = sub(rest, slash + 1)
    else
      segs[#segs + 1] = rest
      break
    end
  end
  for i, seg in ipairs(segs) do
    local c = sub(seg, 1, 1)
    if c == ":" or c == "*" then
      local name = sub(seg, 2)
      if not find(name, "^[%a_][%w_]*$") then
        return nil, format('bad parameter name "%s" in route "%s" (use letters, digits and _)', seg, route)
      end
      if c == "*" and i ~= #segs then
        return nil, format('wildcard "%s" must be the last segment of route "%s"', seg, route)
      end
      if set[name] then
        return nil, format('parameter "%s" appears twice in route "%s"', name, route)
      end
      set[name] = true
      names[#names + 1] = name
      shape[i] = c
    else
      if find(seg, "[:*]") then
        return nil, format('"%s" in route "%s": ":" and "*" may only start a segment', seg, route)
      end
      shape[i] = seg
    end
  end
  return "/" .. concat(shape, "/"), names, set
end

local function make_logger()
  local logger = {}
  for _, level in ipairs { "info", "warn", "error" } do
    logger[level] = function(a, b, ...)
      local msg = a
      if a == logger then   -- called as logger:info(...)
        msg = b
        if select("#", ...) > 0 then msg = format(tostring(msg), ...) end
      elseif b ~= nil or select("#", ...) > 0 then
        msg = format(tostring(msg), b, ...)
      end
      core_log(level, tostring(msg))
    end
  end
  return logger
end

--- runtime.load(app_dir) -> { dispatch = fn, resume = fn }; raises "file:line: message" on failure.
function M.load(app_dir)
  pikku._reset()
  routes = {}
  dev = core.dev and true or false
  app_dir = gsub(tostring(app_dir), "/+$", "")
  if app_dir == "" then app_dir = "." end
  local file = app_dir .. "/app.lua"

  local chunk, err = loadfile(file)
  if not chunk then
    if not find(err, "^[^\n]-:%d+: ") then err = file .. ":0: " .. err end
    error(err, 0)
  end
  local ok, e = xpcall(chunk, load_error)
  if not ok then error(e, 0) end

  local reg = pikku._registry
  local seen = {}
  for i, w in ipairs(reg.wirings) do
    local shape, names, set = parse_route(w.route)
    if not shape then error(w.place .. ": " .. names, 0) end
    local key = w.method .. " " .. shape
    local first = seen[key]
    if first then
      error(format('%s: route "%s %s" is wired twice (%s and %s)',
        w.place, w.method, first.route, first.place, w.place), 0)
    end
    seen[key] = w
    routes[i] = {
      def = w.def, func = w.def.func, raw_body = w.raw_body, method = w.method, route = w.route,
      place = w.place, names = #names > 0 and names or nil, name_set = set, n = #names,
    }
  end

  services = { sleep = M.sleep, logger = make_logger(), config = reg.config or {} }
  local factory = reg.singleton_factory
  if factory then
    local extra = factory
    if type(factory) == "function" then
      ok, extra = xpcall(factory, load_error, services.config)
      if not ok then error(extra, 0) end
    end
    if type(extra) ~= "table" then
      error(file .. ":0: pikku.singleton_services: the factory must return a table, got " .. type(extra), 0)
    end
    for k, v in pairs(extra) do services[k] = v end
  end

  for i, r in ipairs(routes) do
    local added, aerr = core.add_route(r.method, r.route, i)
    if not added then
      error(format('%s: route "%s %s" rejected: %s', r.place, r.method, r.route, tostring(aerr)), 0)
    end
  end
  return { dispatch = safe_dispatch, resume = safe_resume }
end

return M
