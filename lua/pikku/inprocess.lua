-- Calls without a socket (pikku test): runtime.invoke, runtime.request, and in-process connections.
local M = {}

local core = require "pikku.core"
local errors = require "pikku.errors"
local http = require "pikku.http"
local json = require "pikku.json"
local pipeline = require "pikku.pipeline"
local channel = require "pikku.channel"
local channel_fake = require "pikku.channel_fake"
local serve_c = require "pikku.serve_c"

local type, tostring, pairs, select, error, setmetatable = type, tostring, pairs, select, error, setmetatable
local unpack = unpack   -- LuaJIT (Lua 5.1)
local sub, match, lower, upper, gmatch = string.sub, string.match, string.lower, string.upper, string.gmatch
local json_encode = json.encode
local core_timer, core_match = core.timer, core.match
local respond = require("pikku.request_handle").respond

local JSON = "application/json"

-- ---- set once by pikku.runtime -----------------------------------------------------------------

-- respond_error(handle, e, tb, extra), dispatch(handle, index, method, path, query, body, ...)
-- (never raises), in_call() (whether a call of the runtime runs the current coroutine),
-- new_token(), suspend(token) (waits for resume(token)), wait(register) (runtime._wait),
-- routes(), services(), abandon(kind, id, why)
local rt = {}

function M.setup(ctx)
  rt = ctx
  channel_fake.setup {   -- an in-process connection talks to pikku.channel as the core would
    open = channel.open, open_sse = channel.open_sse, message = channel.message, close = channel.close,
    wait = ctx.wait, abandon = ctx.abandon,
  }
end

-- ---- direct calls ------------------------------------------------------------------------------

--- runtime.invoke(def_or_name, data, { session = ..., services = overrides }) -> result, or raises
--- the error the call raised. Runs the whole pipeline (validation, auth with the given session,
--- the function's middleware, permissions, per-call services, output validation) in the caller's
--- coroutine.
function M.invoke(target, data, opts)
  opts = opts or {}
  local plan, err = pipeline.call_plan(target)
  if plan == nil then
    if type(target) == "string" then error(errors.NotFound(err), 2) end
    error("runtime.invoke: " .. tostring(err), 2)
  end
  local services = rt.services()
  local svc = services
  if opts.services then
    svc = setmetatable({}, { __index = services })
    for k, v in pairs(opts.services) do svc[k] = v end
  end
  if data == nil then data = {} end
  local w = pipeline.new_wire(nil, opts.session, svc)
  return pipeline.run_nested(plan, svc, data, w)
end

-- ---- in-process HTTP requests ------------------------------------------------------------------

-- The request handle of an in-process request: answers header lookups, and keeps the response.
local Fake = {}
Fake.__index = Fake

Fake.header, Fake.headers = http.fake_request.header, http.fake_request.headers

function Fake:respond(status, body, ctype, extra, id)
  if self.res then return nil end
  local headers, cookies, list = {}, {}, {}
  if ctype then headers["content-type"] = ctype; list[#list + 1] = { "Content-Type", ctype } end
  for line in gmatch(extra or "", "([^\r\n]+)\r\n") do
    local name, value = match(line, "^([^:]+):%s*(.*)$")
    if name then
      local lname = lower(name)
      list[#list + 1] = { name, value }
      if lname == "set-cookie" then cookies[#cookies + 1] = value end
      headers[lname] = headers[lname] and (headers[lname] .. ", " .. value) or value
    end
  end
  if self.head then body = nil end
  self.res = { status = status, headers = headers, header_list = list, cookies = cookies, body = body,
               error_id = id }
  if self.token then core_timer(0, self.token) end
  return true
end

--- runtime.request { method, path, headers = {}, body, session } -> { status, headers, body, ... }
--- Runs the full HTTP pipeline in-process: routing (core.match), data, CORS, session, ... as for a
--- real request. body may be a string or a table (sent as JSON). headers in the answer have
--- lower-case names (repeats joined with ", "); cookies lists the Set-Cookie values; session sets
--- wire.session directly (no cookie or token needed). A call that sleeps makes this wait, which
--- needs a coroutine of the runtime (runtime.spawn, as pikku test runs every test).
function M.request(req)
  if type(req) ~= "table" then error("runtime.request: expected a table { method, path, ... }", 2) end
  local method = upper(req.method or "GET")
  local target = req.path or "/"
  if sub(target, 1, 1) ~= "/" then error("runtime.request: path must start with '/'", 2) end
  local path, query = match(target, "^([^?#]*)%??([^#]*)")
  if query == "" then query = nil end
  local hdrs = {}
  for k, v in pairs(req.headers or {}) do hdrs[lower(k)] = tostring(v) end
  local body = req.body
  if type(body) == "table" then
    body = json_encode(body)
    if hdrs["content-type"] == nil then hdrs["content-type"] = JSON end
  end
  if hdrs.host == nil then hdrs.host = "localhost" end
  local fake = setmetatable({ hdrs = hdrs, session = req.session, head = method == "HEAD" }, Fake)
  local npath, why = serve_c.normalize_path(path)   -- dot segments, as the core removes them
  if npath == nil then
    rt.respond_error(fake, errors.BadRequest(why), nil, nil)
    return fake.res
  end
  path = npath
  local index, params, allow = core_match(method, path)
  if index ~= nil and rt.routes()[index].kind == "static" then   -- the core serves these itself
    local bytes, ctype = serve_c.static_file(index, params[#params] or "")
    if bytes then respond(fake, 200, bytes, ctype, nil, nil)
    else rt.respond_error(fake, errors.NotFound("File not found"), nil, nil) end
    return fake.res
  end
  if index ~= nil and rt.routes()[index].kind == "sse" then
    error("runtime.request: GET " .. path .. " is an event stream (sse = true): open it with"
      .. " t.sse { path = ... } and read its events with :receive()", 2)
  end
  if index == nil then
    if params == 405 and method == "OPTIONS" then   -- as the core answers: what the path allows
      respond(fake, 204, nil, nil, "Allow: " .. tostring(allow) .. ", OPTIONS\r\n", nil)
    elseif params == 405 then
      rt.respond_error(fake, errors.MethodNotAllowed(), nil, "Allow: " .. tostring(allow) .. "\r\n")
    else
      rt.respond_error(fake, errors.NotFound("Route not found"), nil, nil)
    end
  else
    rt.dispatch(fake, index, method, path, query, body, unpack(params))
  end
  if fake.res == nil then
    if not rt.in_call() then
      error("runtime.request: the call did not finish at once (it sleeps); make the request from a"
        .. " coroutine of the runtime (runtime.spawn; every pikku test runs in one)", 2)
    end
    local token = rt.new_token()
    fake.token = token
    rt.suspend(token)
  end
  return fake.res
end

-- ---- in-process connections --------------------------------------------------------------------

--- runtime.sse { path, headers?, session? } -> an in-process event stream (t.sse)
function M.sse(req)
  return channel_fake.connect_sse(req, rt.routes())
end

--- runtime.channel { path, headers?, session? } -> an in-process WebSocket connection (t.channel)
function M.channel(req)
  return channel_fake.connect(req, rt.routes())
end

--- runtime.listen(topic, ...) -> an in-process connection subscribed to these topics (t.subscribe)
function M.listen(...)
  local f = channel_fake.new()
  for i = 1, select("#", ...) do channel.subscribe(f.id, (select(i, ...))) end
  return f
end

return M
