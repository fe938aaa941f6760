-- The call pipeline: plans compiled at load, then session -> middleware -> auth -> validate -> permissions -> function.
--
-- A plan is everything one entry point needs, resolved once when the app loads: the compiled
-- input/output validators, the effective auth flag, the flattened middleware list and the
-- permission groups. An HTTP wiring, the RPC route and a direct call (runtime.invoke,
-- wire.rpc.invoke) each get their own plan for the same function. A plan with nothing to do
-- (auth = false, no schema, no middleware, no auth configured) has `fast = true` and the
-- runtime calls the function directly, so plain routes cost what they did before the pipeline.
local M = {}

local errors = require "pikku.errors"
local core = require "pikku.core"

local type, tostring, pairs, ipairs, error, xpcall, pcall, rawget, rawset, setmetatable, require =
  type, tostring, pairs, ipairs, error, xpcall, pcall, rawget, rawset, setmetatable, require
local format, match, lower, concat = string.format, string.match, string.lower, table.concat
local co_running = coroutine.running
local traceback = debug.traceback
local os_time = os.time
local is_error = errors.is
local core_log = core.log

M.MAX_DEPTH = 16

-- ---- state of the loaded app (set by runtime.load through M.setup) ---------------------------

local services = {}          -- the singleton services
local auth = nil             -- pikku.auth config, or nil
local session_factory = nil  -- pikku.session_services factory, or nil
local validate_output = false
local call_plans = {}        -- def -> plan for direct calls (runtime.invoke, wire.rpc.invoke)
local by_name = {}           -- name -> def (every pikku.func with a name)
local trusted_origins = {}   -- origin -> true: CORS origins allowed to send credentials (CSRF)
local listed_origins = {}    -- origin -> true: every CORS origin (a cookie-less request from one passes)
local any_origin = false     -- pikku.cors { origins = "*" }
local jwt, cookie_session    -- the crypto modules, required only when auth needs them

-- wire -> the call it belongs to is found through this: coroutine -> the innermost wire
local active = setmetatable({}, { __mode = "k" })
M.active = active
-- set by the runtime: returns the wire of the HTTP call running in coroutine co, or nil
M.root_wire = function() return nil end

-- ---- tracebacks through rethrown errors ------------------------------------------------------

-- An error caught (to run `close`) and raised again keeps the traceback of where it happened.
M.carried_err, M.carried_tb = nil, nil

-- (carried_tb is the "something is carried" mark: the value itself may be nil, as error(nil) raises)
local function capture(e)
  if not (M.carried_tb and e == M.carried_err) and not (is_error(e) and e.status < 500) then
    M.carried_err, M.carried_tb = e, traceback(tostring(e), 2)
  end
  return e
end
M.capture = capture

-- ---- errors -------------------------------------------------------------------------------------

local function missing_session()
  return errors.MissingSession("this call needs a session: log in, or send a bearer token or an API key")
end

local function schema_errors_text(errs)
  local parts = {}
  for i, e in ipairs(errs or {}) do
    if i > 5 then parts[#parts + 1] = "..."; break end
    parts[#parts + 1] = tostring(e.path or "") .. ": " .. tostring(e.message)
  end
  return concat(parts, "; ")
end

local validation_failed = errors.validation_failed   -- the 422, bounded

-- ---- the wire ------------------------------------------------------------------------------------

local WireMT = {}
local LAZY = {}

WireMT.__index = function(w, k)
  local make = LAZY[k]
  if make then
    local v = make(w)
    rawset(w, k, v)
    return v
  end
  return nil
end

local invoke_from   -- defined below

-- rpc.invoke(name, data), also called as rpc:invoke(name, data) like the other services
function LAZY.rpc(w)
  local rpc = {}
  rpc.invoke = function(a, b, c)
    if a == rpc then a, b = b, c end
    return invoke_from(w, a, b)
  end
  return rpc
end

-- The HTTP object of the call this wire belongs to (nested RPC wires share the root's).
local function root_http(w)
  local root = rawget(w, "_root") or w
  return rawget(root, "http"), root
end

local function set_session(w, session)
  if type(session) ~= "table" then
    error("wire.set_session: the session must be a table, got " .. type(session), 3)
  end
  local h, root = root_http(w)
  local c = auth and auth.cookie
  if h and c then
    local value = cookie_session.encode(session, c.secrets, { max_age = c.max_age })
    local line = cookie_session.set_cookie_header(c.name, value, {
      secure = c.secure, max_age = c.max_age, same_site = c.same_site, path = c.path, domain = c.domain,
    })
    h:_set_session_cookie(line)
  end
  rawset(w, "session", session)
  if root ~= w then rawset(root, "session", session) end
  local ch = rawget(root, "channel")
  if ch then ch:_store_session(session) end   -- a channel keeps it (in C) for its later messages
end

local function clear_session(w)
  local h, root = root_http(w)
  local c = auth and auth.cookie
  if h and c then
    h:_set_session_cookie(cookie_session.clear_cookie_header(c.name, {
      secure = c.secure, same_site = c.same_site, path = c.path, domain = c.domain,
    }))
  end
  rawset(w, "session", nil)
  if root ~= w then rawset(root, "session", nil) end
  local ch = rawget(root, "channel")
  if ch then ch:_store_session(nil) end
end

function LAZY.set_session(w)
  return function(session) return set_session(w, session) end
end

function LAZY.clear_session(w)
  return function() return clear_session(w) end
end

-- wire.channel of a nested call (wire.rpc.invoke) is the one of the call it came from.
function LAZY.channel(w)
  local root = rawget(w, "_root")
  return root and rawget(root, "channel") or nil
end

--- M.new_wire(h, session, svc) -> a wire for a new top-level call (h: the wire.http object or nil)
function M.new_wire(h, session, svc)
  local w = setmetatable({ http = h, session = session, _services = svc }, WireMT)
  return w   -- (not a tail call of a builtin: see pikku.http M.new)
end
M.WireMT = WireMT

-- ---- sessions from an HTTP request -------------------------------------------------------------

local UNSAFE = { POST = true, PUT = true, PATCH = true, DELETE = true }

-- Cross-origin check for cookie sessions, as Go's net/http CrossOriginProtection does it:
-- Sec-Fetch-Site when the browser sends it, else Origin (or Referer) against Host; a request
-- with none of them is not from a browser, so no cross-site forgery is possible.
-- with_cookie: the request carries the session cookie (only credentialed CORS origins are trusted);
-- without it, any origin pikku.cors lets in is (the app opened itself to cross-origin calls).
local function csrf_ok(h, with_cookie)
  local origin = h:header("origin")
  if origin == nil then
    local ref = h:header("referer")
    if ref then origin = match(ref, "^(%a[%w+.-]*://[^/?#]+)") or "null" end
  end
  if origin and trusted_origins[origin] then return true end
  if origin and not with_cookie and (any_origin or listed_origins[origin]) then return true end
  local site = h:header("sec-fetch-site")
  if site then return site == "same-origin" or site == "none" end
  if origin == nil then return true end
  local ohost = match(origin, "^%a[%w+.-]*://([^/?#]+)$")
  local host = h:header("host")
  return ohost ~= nil and host ~= nil and lower(ohost) == lower(host)
end

-- Sets wire.session from a bearer token, an API key or the session cookie (first found wins).
-- strict (the call needs a session): bad credentials are a 401 instead of no session.
-- upgrade (a WebSocket upgrade, a GET): a session cookie sent from another origin is ignored
-- (cross-site WebSocket hijacking), where a state-changing request would be refused.
local function resolve_http(svc, w, strict, upgrade)
  local h = w.http
  local cfg = auth
  if cfg == nil then return end
  if cfg.jwt then
    local authz = h:header("authorization")
    if authz then
      local token = match(authz, "^[Bb][Ee][Aa][Rr][Ee][Rr] +([^ ]+) *$")
      if token then
        local claims, reason = jwt.verify(token, cfg.jwt.secrets, os_time())
        if claims then
          rawset(w, "session", claims)
        elseif strict then
          -- the reason (bad signature, expired...) is for the developer, not for the client
          error(errors.InvalidSession(core.dev and ("invalid bearer token: " .. tostring(reason))
            or "invalid bearer token"), 0)
        end
        return
      elseif strict and match(authz, "^[Bb][Ee][Aa][Rr][Ee][Rr] ") then
        -- "Bearer" with no single token after it (two Authorization headers arrive joined by ", ")
        error(errors.InvalidSession("malformed bearer token: send one Authorization: Bearer <token>"), 0)
      end
    end
  end
  local k = cfg.api_key
  if k then
    local key = k.header and h:header(k.header)
    if (key == nil or key == "") and k.query then
      key = h.query[k.query]
      if type(key) == "table" then key = key[1] end
      -- a key in the URL fits in a cross-site form (no preflight, unlike a header): it does not
      -- exempt a state-changing request from the CSRF check that cookie sessions need
      local c = cfg.cookie
      if key and key ~= "" and c and cfg.csrf and UNSAFE[h.method] and not upgrade
          and not csrf_ok(h, h:cookie(c.name) ~= nil) then
        error(errors.Forbidden("cross-origin request refused: an API key in the query string does not"
          .. " exempt a POST, PUT, PATCH or DELETE from another origin from the CSRF check (send it in the "
          .. (k.header or "API key") .. " header)"), 0)
      end
    end
    if key and key ~= "" then
      local s = k.check(svc, key)
      if type(s) == "table" then
        rawset(w, "session", s)
      elseif strict then
        error(errors.InvalidSession("invalid API key"), 0)
      end
      return
    end
  end
  local c = cfg.cookie
  if c then
    local value = h:cookie(c.name)
    local s = value and value ~= "" and cookie_session.decode(value, c.secrets, os_time()) or nil
    if upgrade then
      if s and not (cfg.csrf and not csrf_ok(h, true)) then rawset(w, "session", s) end
      return
    end
    -- every state-changing request, cookie or not: a cross-site POST to a login route would
    -- otherwise plant the attacker's session in the victim's browser (login CSRF)
    if cfg.csrf and UNSAFE[h.method] and not csrf_ok(h, value ~= nil) then
      error(errors.Forbidden("cross-origin request refused: with cookie sessions, a POST, PUT, PATCH or"
        .. " DELETE from a browser must come from the same origin (its Origin or Referer must match Host)"
        .. " or from an origin listed in pikku.cors"), 0)
    end
    if s then rawset(w, "session", s) end
  end
end

--- M.resolve_session(services, wire, strict, upgrade): sets wire.session from the request of
--- wire.http as an HTTP call would (nothing when pikku.auth is not configured). Raises
--- InvalidSession for bad credentials when strict.
M.resolve_session = resolve_http

-- ---- running a plan ------------------------------------------------------------------------------

-- (perms.n and group.n: their lengths, counted when the plan was compiled: `#` is a call in a trace)
local function check_permissions(perms, svc, data, session)
  for i = 1, perms.n do
    local group = perms[i]
    local ok = true
    for j = 1, group.n do
      if not group[j](svc, data, session) then
        ok = false
        break
      end
    end
    if ok then return end
  end
  error(errors.Forbidden("Permission denied"), 0)
end

local function close_call(close, extra, label)
  local ok, err = pcall(close, extra)
  if not ok then
    core_log("error", format("session services close failed after %s: %s", label, tostring(err)))
  end
end

-- (inside the middleware) auth -> input validation -> permissions -> per-call services ->
-- function (-> close) -> output validation, as Pikku's runner does: middleware may set the session
-- (an auth middleware), and a caller without a session learns nothing about the input schema.
local function inner(plan, svc, data, w)
  if plan.auth and w.session == nil then error(missing_session(), 0) end
  local vin = plan.vin
  local h = vin and w.http
  -- data that is the request's body decoded and validated in one pass (pikku.request_data) is
  -- not checked again: nothing the app runs before this point can reach it
  if vin and not (h and rawget(h, "_valid") == data) then
    local ok, errs, count = vin:validate(data, true)
    if not ok then error(validation_failed(errs, count), 0) end
  end
  local perms = plan.perms
  if perms then check_permissions(perms, svc, data, w.session) end
  local res
  local factory = session_factory
  if factory then
    local extra = factory(svc, w)
    if type(extra) == "table" then
      local call_svc = setmetatable({}, { __index = svc })
      -- a test's mocks (t.call { services = ... }: svc is then not the app's table) win over
      -- per-call services of the same name
      local mocked = svc ~= services
      for k, v in pairs(extra) do
        if k ~= "close" and not (mocked and rawget(svc, k) ~= nil) then call_svc[k] = v end
      end
      local close = extra.close
      local ok, r = xpcall(plan.func, capture, call_svc, data, w)
      if type(close) == "function" then close_call(close, extra, plan.label) end
      if not ok then error(r, 0) end
      res = r
    else
      res = plan.func(svc, data, w)
    end
  else
    res = plan.func(svc, data, w)
  end
  local vout = plan.vout
  if vout and validate_output and res ~= nil then
    local ok, errs = vout:validate(res, false)
    if not ok then
      error(errors.InternalServerError(format("%s returned a result that does not match its output schema: %s",
        plan.label, schema_errors_text(errs))), 0)
    end
  end
  return res
end

-- The middleware onion: mws[i](services, wire, next); next() runs the rest and returns its result.
-- next is a callable table, not a closure: LuaJIT does not compile closure creation, and a
-- closure per middleware per call would keep every call's pipeline in the interpreter.
local onion
local NextMT = {}
NextMT.__call = function(n)
  if n.called then
    error("middleware #" .. n.i .. " of " .. n.plan.label .. " called next() twice", 2)
  end
  n.called = true
  local result = onion(n.plan, n.mws, n.i + 1, n.svc, n.data, n.w)
  n.result = result
  return result
end

onion = function(plan, mws, i, svc, data, w)
  local mw = mws[i]
  if mw == nil then return inner(plan, svc, data, w) end
  local nxt = setmetatable({ plan = plan, mws = mws, i = i, svc = svc, data = data, w = w,
    called = false, result = false }, NextMT)   -- result: a slot from the start (no rehash)
  local r = mw(svc, w, nxt)
  if r == nil and nxt.called then return nxt.result end
  return r
end

--- M.run(plan, services, data, wire) -> result; raises a pikku error (or any error) on failure.
--- session (from the request) -> middleware -> auth -> validate -> permissions -> per-call
--- services -> function.
local function run(plan, svc, data, w)
  if plan.http_session and not rawget(w, "_given") then
    resolve_http(svc, w, plan.auth)
  end
  local mws = plan.mws
  if mws then return onion(plan, mws, 1, svc, data, w) end
  return inner(plan, svc, data, w)
end
M.run = run

-- ---- RPC -----------------------------------------------------------------------------------------

--- M.call_plan(def_or_name) -> plan for a direct call, or nil, message
local function call_plan(target)
  local def = target
  if type(target) == "string" then
    def = by_name[target]
    if def == nil then return nil, format('no function named "%s"', target) end
  end
  local plan = call_plans[def]
  if plan == nil then
    return nil, "not a function of the loaded app (declare it with pikku.func in app.lua or a module it requires)"
  end
  return plan
end
M.call_plan = call_plan

-- Runs plan for wire w in the current coroutine, with w as the innermost wire while it runs.
local function run_nested(plan, svc, data, w)
  local co = co_running()
  local prev = co and active[co]
  if co then active[co] = w end
  local ok, res = xpcall(run, capture, plan, svc, data, w)
  if co then active[co] = prev end
  if not ok then error(res, 0) end
  return res
end
M.run_nested = run_nested

invoke_from = function(w, name, data)
  local depth = (rawget(w, "_depth") or 0) + 1
  if depth > M.MAX_DEPTH then
    error(errors.InternalServerError(format('RPC depth limit of %d nested calls exceeded when calling "%s"'
      .. " (functions calling each other through rpc.invoke: runaway recursion?)", M.MAX_DEPTH,
      tostring(name))), 0)
  end
  local plan, err = call_plan(name)
  if plan == nil then error(errors.NotFound(err), 0) end
  if data == nil then data = {} end
  local svc = rawget(w, "_services") or services
  local nested = setmetatable({
    session = w.session, _depth = depth, _root = rawget(w, "_root") or w, _services = svc,
  }, WireMT)
  return run_nested(plan, svc, data, nested)
end

--- services.rpc.invoke(name, data): like wire.rpc.invoke, for the call running now. A table of
--- services.rpc itself as the first argument is a call with ':' (services.rpc:invoke(name, data)).
function M.services_invoke(name, data, extra)
  if name ~= nil and name == services.rpc then name, data = data, extra end
  local co = co_running()
  local w = co and (active[co] or M.root_wire(co))
  if w == nil then w = M.new_wire(nil, nil, services) end
  return invoke_from(w, name, data)
end

-- ---- compiling plans at load ---------------------------------------------------------------------

-- permissions = fn | { key = fn | { fn, ... } } -> list of AND-groups (any group passing allows)
local function compile_permissions(p)
  if p == nil then return nil end
  if type(p) == "function" then return { { p, n = 1 }, n = 1 } end
  local groups = {}
  local keys = {}
  for k in pairs(p) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)   -- a stable order, so side effects of permission functions are repeatable
  local lookup = {}
  for k, v in pairs(p) do lookup[tostring(k)] = v end
  for _, k in ipairs(keys) do
    local v = lookup[k]
    if type(v) == "function" then
      groups[#groups + 1] = { v, n = 1 }
    else
      local g = {}
      for i, f in ipairs(v) do g[i] = f end
      g.n = #g
      groups[#groups + 1] = g
    end
  end
  groups.n = #groups
  return #groups > 0 and groups or nil
end

local function append(list, src)
  if src then
    for _, v in ipairs(src) do list[#list + 1] = v end
  end
end

--- M.compile_function(def, label, place) -> the per-function part every plan shares.
--- Raises "place: message" when a schema does not compile.
function M.compile_function(def, label, place)
  local fc = { def = def, func = def.func, label = label, perms = compile_permissions(def.permissions) }
  if def.input ~= nil or def.output ~= nil then
    local schema = require "pikku.schema"
    for _, which in ipairs { "input", "output" } do
      if def[which] ~= nil then
        local ok, v = pcall(schema.compile, def[which], label .. " " .. which)
        if not ok then
          local msg = tostring(v)
          if not match(msg, "^[^\n]-:%d+: ") then msg = place .. ": " .. msg end
          error(msg, 0)
        end
        fc[which == "input" and "vin" or "vout"] = v
      end
    end
  end
  return fc
end

--- M.make_plan(fc, opts) -> plan. opts: auth (bool), mws (list or nil), http (bool), extra fields.
function M.make_plan(fc, opts)
  local plan = {
    def = fc.def, func = fc.func, label = fc.label, perms = fc.perms, vin = fc.vin, vout = fc.vout,
    auth = opts.auth, mws = (opts.mws and opts.mws[1]) and opts.mws or nil,
    http_session = opts.http and auth ~= nil or false,
  }
  plan.fast = not plan.vin and not plan.auth and not plan.mws and not plan.perms
    and not session_factory and not plan.http_session and not (plan.vout and validate_output)
  if plan.fast then
    plan.entry = plan.func
    -- What the function cannot see is not made: a function declared with fewer parameters (and no
    -- `...`) gets no data table (fewer than 2) and no wire (fewer than 3) from an HTTP route. The
    -- wire is made when something asks for it (pipeline.root_wire: services that need the call's
    -- wire), so nothing can tell. Two of the four tables of a GET /hello (docs/benchmarks.md).
    local info = debug.getinfo(plan.func, "u")
    if info and not info.isvararg then
      plan.no_data, plan.no_wire = info.nparams < 2, info.nparams < 3
    end
  else
    plan.entry = function(svc, data, w) return run(plan, svc, data, w) end
  end
  return plan
end

--- M.flatten_middleware(global, group, wiring, func) -> one list in the order they run, or nil
function M.flatten_middleware(a, b, c, d)
  local list = {}
  append(list, a)
  append(list, b)
  append(list, c)
  append(list, d)
  return list[1] and list or nil
end

--- M.setup(state): the loaded app's settings (called by runtime.load before compiling plans).
function M.setup(state)
  services = state.services
  auth = state.auth
  session_factory = state.session_factory
  validate_output = state.validate_output and true or false
  M.MAX_DEPTH = state.rpc_max_depth or 16
  call_plans = {}
  by_name = {}
  trusted_origins, listed_origins, any_origin = {}, {}, false
  local cors = state.cors
  if cors and type(cors.origins) == "table" then
    for _, o in ipairs(cors.origins) do
      listed_origins[o] = true
      if cors.credentials then trusted_origins[o] = true end
    end
  elseif cors and cors.origins == "*" then
    any_origin = true
  end
  jwt, cookie_session = nil, nil
  if auth then
    if auth.jwt then jwt = require "pikku.jwt" end
    if auth.cookie then cookie_session = require "pikku.cookie_session" end
  end
end

--- M.add_call_plan(def, plan): registers the plan used for direct calls of def (and its name).
function M.add_call_plan(def, plan)
  call_plans[def] = plan
  if def.name then by_name[def.name] = def end
end

function M.services() return services end

return M
