-- The C core's entry points (docs/internals.md): load, dispatch, resume; calls in coroutines, sleep.
-- Loading is pikku.app_loader's job, a request's data pikku.request_data's, channels pikku.channel's,
-- calls without a socket (runtime.request, runtime.invoke, ...) pikku.inprocess's: this file wires them.
local M = {}

local core = require "pikku.core"
local work_c = require "pikku.work_c"
local errors = require "pikku.errors"
local http = require "pikku.http"
local pipeline = require "pikku.pipeline"
local cors = require "pikku.cors"
local channel = require "pikku.channel"
local app_loader = require "pikku.app_loader"
local inprocess = require "pikku.inprocess"
local json = require "pikku.json"
local request_handle = require "pikku.request_handle"
local request_data = require "pikku.request_data"
local loop_guard = require "pikku.loop_guard"
local call_guard = require "pikku.call_guard"
local jobs = require "pikku.jobs"
local queue_service = require "pikku.queue_service"

local type, tostring, tonumber, pairs, select, error, xpcall, setmetatable, rawget =
  type, tostring, tonumber, pairs, select, error, xpcall, setmetatable, rawget
local find, format = string.find, string.format
local co_create, co_resume, co_yield, co_running =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.running
local traceback = debug.traceback
local json_encode, json_decode, json_null, is_object = json.encode, json.decode, json.null, json.is_object
local core_timer, core_gen_id, core_log, core_log_error = core.timer, core.gen_id, core.log, core.log_error
local core_request_id = core.request_id
local core_now, guard_check = require("pikku.host").now_ms, loop_guard.check
local call_start = require("pikku.host").call_start_ms
local guard_begin, guard_resume, guard_stop = call_guard.begin, call_guard.resume, call_guard.stop
local is_error = errors.is
local for_client = errors.for_client
local unescape, parse_pairs, http_new, http_new_bare, http_release, header_lines =
  http.unescape, http.parse_pairs, http.new, http.new_bare, http.release, http.header_lines
local WireMT = pipeline.WireMT
local respond, header = request_handle.respond, request_handle.header
local respond_json = require("pikku.respond_c").json
local merge, query_data, add_body, body_kind, NO_BODY_METHODS =
  request_data.merge, request_data.query_data, request_data.add_body, request_data.body_kind,
  request_data.NO_BODY_METHODS

local JSON = "application/json"
local TEXT = "text/plain; charset=utf-8"
local OCTETS = "application/octet-stream"
local POOL_MAX = 1024

-- ---- state of the loaded app (set by M.load from pikku.app_loader's result) --------------------

-- index -> a plan (see pikku.pipeline) plus the route's kind, names, name_set, n, method, route,
-- place; kind is "http", "sse", "channel", "rpc" (POST /rpc/:name) or "preflight" (CORS OPTIONS)
local routes = {}
local rpc_plans = {}  -- name -> HTTP plan of an exposed function
local services = {}   -- the table every function receives first
local dev = false
local cors_on = nil   -- true when the app called pikku.cors
local key_param = nil -- pikku.auth's api_key.query: a credential, never part of data
local challenge = nil -- "WWW-Authenticate: Bearer\r\n" when pikku.auth has jwt (every 401 carries it)

-- ---- coroutines --------------------------------------------------------------------------------

local DONE, SLEEPING, TASK_DONE = {}, {}, {}   -- private markers a coroutine yields to say why it stopped
local TASK = {}                                -- calls[co] for a coroutine started by M.spawn
local pool, pool_n = {}, 0      -- idle runner coroutines
local calls = {}                -- coroutine -> the wire.http object of the call it runs (or TASK)
local waiting = {}              -- token -> the coroutine suspended until resume(token, ...)
local req_wait = {}             -- request handle -> the token its call waits on (abandon "request")
local chan_waits = {}           -- channel cid -> { [token] = true }: its calls' waits (abandon "channel")
local limit_waits = {}          -- token -> the call waiting on it with a time limit, not an HTTP request's
                                -- (a channel's, a job's, a tick's: the time-limit sweep; the core's tick has requests)
local timer_seq = 0

local new_wire   -- (below)

-- The wire of an HTTP call is made here when its function did not take one (plan.no_wire).
pipeline.root_wire = function(co)
  local h = calls[co]
  if h and h ~= TASK then
    local w = h._wire
    if w == false then w = new_wire(h, rawget(h, "handle")) end
    return w or nil
  end
  return nil
end

-- ---- errors ------------------------------------------------------------------------------------

local last_traceback   -- set by on_error just before xpcall returns false

-- LuaJIT's error for a failed allocation. What the failed call held is garbage once it has
-- unwound, but the collector's next cycle is due only at twice the memory in use then, which the
-- process may never reach: collect now, or the worker would answer every later call with this.
local OOM = "not enough memory"

-- A state still this full after a full collection keeps what its calls allocated (a cache or a
-- global that grows): every call would fail, so the worker is replaced by a fresh one.
local STILL_FULL = 0.85

-- After a call failed: collects at once when it failed for memory (also when the error came
-- wrapped in a traceback). Returns true then.
local function reclaim_if_oom(e)
  if e == OOM or (type(e) == "string" and find(e, OOM, 1, true)) then
    collectgarbage("collect")
    local used, limit = call_guard.memory()
    if limit > 0 and used > limit * STILL_FULL then
      call_guard.replace_worker(format("its Lua state still holds %.0f MiB after a full collection, %.0f%% of its"
        .. " ceiling (--max-lua-memory %.0f MiB): the app keeps what its calls allocate", used / 1048576,
        used * 100 / limit, limit / 1048576))
    end
    return true
  end
  return false
end

-- What a call that ran out of memory is told (and the log says).
local function oom_error()
  local _, limit = call_guard.memory()
  if limit > 0 then
    return errors.InternalServerError(format("the function ran out of memory (the worker's Lua memory ceiling"
      .. " is %.0f MiB: --max-lua-memory)", limit / 1048576))
  end
  return errors.InternalServerError("the function ran out of memory")
end

-- xpcall handler: keeps the error value, records a traceback when it will be logged.
local function on_error(e)
  if e == OOM then   -- no traceback: building it needs memory there is none of
    last_traceback = nil
    return e
  end
  if is_error(e) and e.status < 500 then
    last_traceback = nil
  elseif e == pipeline.carried_err and pipeline.carried_tb then
    last_traceback = pipeline.carried_tb   -- raised again after a close(): keep the first traceback
  else
    last_traceback = traceback(tostring(e), 2)
  end
  pipeline.carried_err, pipeline.carried_tb = nil, nil
  return e
end

-- The errorId of a request: its X-Request-Id when the core's rule takes it, else the trace-id of
-- its W3C traceparent, else a new id.
local function request_id(handle)
  return core_request_id(header(handle, "x-request-id"), header(handle, "traceparent"))
end

-- The id of the call running in this coroutine, for log lines: the request's x-request-id or a
-- new id, made on first use and kept, so an error answer later in the call carries the same errorId.
local function current_call_id()
  local co = co_running()
  local h = co and calls[co]
  if h == nil or h == TASK then return nil end
  local id = h._rid
  if id == nil and h._chan then
    id = core_gen_id()
    h._rid = id
    call_guard.set_id(h, id)
  end
  if id == nil and h.handle == nil then return nil end
  if id == nil then
    id = type(h.handle) == "number" and request_id(h.handle) or core_gen_id()
    h._rid = id
    call_guard.set_id(h, id)
  end
  return id
end

-- Responds with an error; e is a pikku error or any other value raised. Never raises.
local function respond_error(handle, e, tb, extra, rid)
  local id = rid or request_id(handle)
  local name, status, message, payload, log = for_client(e, dev)
  if log then core_log_error(id, tb or tostring(e)) end
  if status == 401 and challenge then extra = extra and (extra .. challenge) or challenge end
  local body = json_encode({ name = name, message = message, payload = payload, errorId = id })
  if body == nil then   -- a payload the JSON encoder cannot encode
    body = json_encode({ name = name, message = message, errorId = id })
  end
  respond(handle, status, body, JSON, extra, id)
end

-- The response's extra header lines: the function's own, then the CORS ones.
local function extra_lines(h)
  local lines = header_lines(h)
  local c = rawget(h, "_cors")
  if c then return lines and (lines .. c) or c end
  return lines
end

-- ---- finishing a call --------------------------------------------------------------------------

local NO_BODY = { [204] = true, [205] = true, [304] = true }

local function finish(h, ok, res)
  local stream = rawget(h, "_stream")   -- wire.http:stream: ended here when the function did not close it
  if stream then stream:_finish(ok) end
  if h._done then
    -- answered early by send/redirect: an error after that reaches the log, not the client;
    -- except an outbound call's "abandoned" (the client left: 499, never logged)
    if not ok and h._answered then
      local tb = last_traceback
      last_traceback = nil
      if not (is_error(res) and res.kind == "abandoned") then
        core_log_error(h._rid or core_gen_id(), "after the response was sent: " .. tostring(tb or res))
      end
    end
    return
  end
  h._done = true
  -- (rawget: the private fields a call may not have set would go through HttpMT's __index)
  local on_finish = rawget(h, "_on_finish")   -- a channel call (pikku.channel) answers in its own way
  if on_finish then
    local tb = last_traceback
    last_traceback = nil
    return on_finish(h, ok, res, tb)
  end
  local handle = h.handle
  if not ok then
    local tb = last_traceback
    last_traceback = nil
    h._session_line = nil   -- a failed call changes no session (a login that raised logs no one in)
    return respond_error(handle, res, tb, extra_lines(h), h._rid)
  end
  local status, body, ctype = rawget(h, "_status"), nil, nil
  if rawget(h, "_sent") then
    body = h._sent_body
    ctype = h._sent_type or h._ctype or (body and OCTETS)
    status = status or 200
  elseif res == nil then
    status = status or 204
  else
    local t = type(res)
    if t == "string" then
      body, ctype = res, rawget(h, "_ctype") or TEXT
    elseif type(handle) == "number" then
      -- a request of the core: the JSON text goes straight into the response, no Lua string made
      status = status or 200
      local sent, err = respond_json(handle, status, res, rawget(h, "_ctype") or JSON, extra_lines(h), NO_BODY[status])
      if sent == false then
        h._session_line = nil
        return respond_error(handle, "the function's result cannot be encoded as JSON: " .. tostring(err),
          nil, extra_lines(h))
      end
      return
    else
      local err
      body, err = json_encode(res)
      if body == nil then
        h._session_line = nil
        return respond_error(handle, "the function's result cannot be encoded as JSON: " .. tostring(err),
          nil, extra_lines(h))
      end
      ctype = rawget(h, "_ctype") or JSON
    end
    status = status or 200
  end
  if NO_BODY[status] then body, ctype = nil, nil end
  respond(handle, status, body, ctype, extra_lines(h), nil)
end

-- wire.http:send and redirect answer at once; the function goes on, and its return is not sent.
http.answer_now = function(h) finish(h, true, nil) end
http.extra_lines = extra_lines   -- for wire.http:stream and :send_file (pikku.http_stream)

-- The body of every runner coroutine: run a call, say DONE, wait for the next one.
-- fn is the plan's entry: the function itself for a fast plan, else the pipeline.
local function runner(fn, h, data)
  while true do
    if pipeline.carried_tb then   -- left by an error the app caught itself: not this call's
      pipeline.carried_err, pipeline.carried_tb = nil, nil
    end
    local ok, res = xpcall(fn, on_error, services, data, h._wire)
    guard_stop()   -- the function is done: no time limit or memory ceiling for its answer
    if not ok and reclaim_if_oom(res) then
      last_traceback = nil
      res = oom_error()
    end
    finish(h, ok, res)
    fn, h, data = co_yield(DONE)
  end
end

-- coroutine -> { [object] = close(object) }: what a call holds that must not outlive it (a
-- streamed outbound response), closed when the call ends, however it ends (runtime.hold)
local held = {}

local function release_held(co)
  local t = held[co]
  if t == nil then return end
  held[co] = nil
  for obj, close in pairs(t) do
    local ok, err = pcall(close, obj)
    if not ok then core_log("error", "pikku: closing what a call left open failed: " .. tostring(err)) end
  end
end

-- After a coroutine stops (finished, sleeping, or broken), put it where it belongs.
local function settle(co, ok, res)
  if not (ok and res == SLEEPING) then release_held(co) end
  if ok and res == DONE then
    calls[co] = nil
    if pool_n < POOL_MAX then
      pool_n = pool_n + 1
      pool[pool_n] = co
    end
    return
  end
  if ok and res == SLEEPING then return end
  if ok and res == TASK_DONE then
    calls[co] = nil
    return
  end
  -- the function yielded by itself, or the coroutine broke: it is dropped
  local h = calls[co]
  calls[co] = nil
  if not ok then reclaim_if_oom(res) end
  local msg
  if ok then
    msg = "the function yielded outside a pikku service (coroutine.yield is not allowed in a call;"
      .. " use services.sleep or another pikku service)"
  else
    msg = "pikku runtime failure: " .. tostring(res)
  end
  if h and h ~= TASK and not h._done then
    h._done = true
    if h._on_finish then return h._on_finish(h, false, msg, traceback(co, msg)) end
    respond_error(h.handle, msg, traceback(co, msg), nil)
  else
    core_log("error", msg)
  end
end

-- Runs a plan's entry for h in a pooled runner coroutine.
local function start_call(entry, h, data)
  local co
  if pool_n > 0 then
    co = pool[pool_n]
    pool[pool_n] = nil
    pool_n = pool_n - 1
  else
    co = co_create(runner)
  end
  calls[co] = h
  h._entry = entry
  local t0 = call_start()
  guard_begin(entry, h, t0)   -- its time limit starts (pikku.call_guard)
  local ok, res = co_resume(co, entry, h, data)
  guard_stop()
  guard_check(t0, h)   -- a call that held the loop too long is logged (pikku.loop_guard)
  settle(co, ok, res)   -- not a tail call: traces may end here (LuaJIT cannot return into the C caller)
  return ok and res == DONE   -- the call has ended (it does not wait)
end

-- ---- dispatch ----------------------------------------------------------------------------------

new_wire = function(h, handle)
  local w = setmetatable({ http = h }, WireMT)
  if type(handle) == "table" and handle.session ~= nil then
    w.session = handle.session   -- an in-process request with a session chosen by the test
    w._given = true
  end
  h._wire = w
  return w
end

-- POST /rpc/:name: the body's "data" (or the body itself) goes to the exposed function `name`.
local function dispatch_rpc(handle, method, path, query, body, raw_name, cors_lines)
  local h = http_new(handle, method, path, query, body, nil)
  h._cors = cors_lines
  local name = unescape(raw_name or "")
  h._params = { name = name }
  local r = rpc_plans[name]
  if r == nil then
    return respond_error(handle, errors.NotFound(format('no RPC named "%s"', name)), nil, cors_lines)
  end
  local data = {}
  if body ~= nil and body ~= "" then
    local ct = header(handle, "content-type")
    local kind = ct and body_kind(ct)
    if kind ~= "json" then
      return respond_error(handle, errors.UnsupportedMediaType(
        'an RPC body must be JSON: {"data": ...}'), nil, cors_lines)
    end
    local v, err = json_decode(body)
    if v == nil then
      return respond_error(handle, errors.BadRequest("malformed JSON body: " .. tostring(err)), nil, cors_lines)
    end
    if not is_object(v) then
      return respond_error(handle, errors.BadRequest('an RPC body must be a JSON object {"data": ...}'),
        nil, cors_lines)
    end
    if v.data ~= nil then
      data = v.data
      if data == json_null then data = {} end
    else
      v.rpcName = nil
      data = v
    end
  end
  new_wire(h, handle)
  return start_call(r.entry, h, data)
end

-- OPTIONS on a wired path (only routed here when pikku.cors is on): the CORS preflight answer.
local function dispatch_preflight(handle, path)
  local lines = cors.preflight(header(handle, "origin"), header(handle, "access-control-request-headers"), path)
  respond(handle, 204, nil, nil, lines, nil)
end

-- pre: the body as data, decoded and validated by the core before the runtime was entered
-- (dispatch_decoded); false: the core's one pass could not tell, nil: the core did not try.
local function dispatch_request(pre, handle, index, method, path, query, body, ...)
  local r = routes[index]
  if r == nil then
    return respond_error(handle, "dispatch: no route with index " .. tostring(index), nil, nil)
  end
  local cors_lines
  if cors_on then
    if r.kind == "preflight" then return dispatch_preflight(handle, path) end
    cors_lines = cors.response_lines(header(handle, "origin"))
  end
  if r.kind == "rpc" then
    return dispatch_rpc(handle, method, path, query, body, (...), cors_lines)
  end
  if r.kind == "channel" then   -- the core answers these itself; an in-process request lands here
    return respond_error(handle, errors.new("UpgradeRequired", 426,
      format('channel "%s": open it with a WebSocket upgrade (GET with Upgrade: websocket)', r.channel.name)),
      nil, "Upgrade: websocket\r\n" .. (cors_lines or ""))
  end
  local n = r.n
  local h
  if n == 0 and r.no_wire and body == nil and (query == nil or query == "") then
    h = http_new_bare(handle, method, path)
  else
    h = http_new(handle, method, path, query, body, nil)
  end
  if cors_lines then h._cors = cors_lines end   -- not `= nil`: LuaJIT would add the key to h
  local data = nil   -- made below when params or the query need it; a JSON body may be data itself
  if n > 0 then
    data = {}
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
    local vin = r.vin
    if vin then vin:coerce_query(data) end   -- strings, like the query: "/items/5" -> 5 for an integer
  end
  if query ~= nil and query ~= "" then
    data = data or {}
    if n == 0 and not r.vin and not key_param then
      parse_pairs(query, data)
    else
      local err = merge(data, query_data(r, query, key_param), r, "query")
      if err then return respond_error(handle, err, nil, cors_lines) end
    end
  end
  if body ~= nil and body ~= "" and not r.raw_body and not NO_BODY_METHODS[method] then
    if pre then
      data = pre
      h._valid = pre   -- already checked against the input schema (pikku.pipeline)
    else
      local err, valid
      data, err, valid = add_body(data, r, handle, body, pre == false)
      if err then return respond_error(handle, err, nil, cors_lines) end
      if valid then h._valid = data end
    end
  end
  local no_wire = r.no_wire
  if not no_wire then new_wire(h, handle) end
  if data == nil and not r.no_data then data = {} end
  if start_call(r.entry, h, data) and no_wire then http_release(h) end   -- (pikku.http M.release)
end

local function dispatch(handle, index, method, path, query, body, ...)
  return dispatch_request(nil, handle, index, method, path, query, body, ...)
end

-- The core's way into dispatch (docs/internals.md, "A request"): called from C without xpcall, with
-- traceback as its error handler; when it raises, the core calls dispatch_failed. LuaJIT starts no
-- trace at a vararg function and cannot end one by returning through xpcall's frame, so
-- safe_dispatch(...) ran in the interpreter on every request; this fixed-arity entry lets the JIT
-- compile the request's path from its first line. (At most 16 params: router.h PK_MAX_PARAMS.)
local function dispatch_direct(handle, index, method, path, query, body, p1, p2, p3, p4, p5, p6, p7, p8,
                               p9, p10, p11, p12, p13, p14, p15, p16)
  dispatch_request(nil, handle, index, method, path, query, body, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10,
    p11, p12, p13, p14, p15, p16)
end

-- The same for a request of a route in `decoders` (below) whose JSON body the core decoded and
-- validated on the way in (core/src/body_predecode.c): data, or false when that one pass could not
-- tell (the two-pass way then decodes it and says why it is not valid). No params, no query.
local function dispatch_decoded(handle, index, method, path, body, data)
  dispatch_request(data, handle, index, method, path, nil, body)
end

-- route index -> input validator: the routes whose body the core may decode before dispatch (what
-- add_body would do with it: an HTTP route with an input schema, no path params, not raw_body).
-- Every index up to the last has a value, false for the other routes: the table is an array,
-- indexed without a hash look-up.
local function body_decoders()
  local t, last = {}, 0
  for index, r in pairs(routes) do
    if r.kind == "http" and r.vin and not r.raw_body and (r.n or 0) == 0 then
      t[index] = r.vin
      if index > last then last = index end
    end
  end
  local list = {}
  for i = 1, last do list[i] = t[i] or false end
  return list
end

-- What safe_dispatch does when dispatch raised (err: the message with its traceback).
local function dispatch_failed(handle, err)
  reclaim_if_oom(err)
  core_log("error", "pikku dispatch failure: " .. tostring(err))
  respond(handle, 500, '{"name":"InternalServerError","message":"Internal server error"}', JSON, nil, nil)
end

-- Never lets an error escape to C (the contract says dispatch must not raise).
local function safe_dispatch(handle, ...)
  local ok, err = xpcall(dispatch, traceback, handle, ...)
  if not ok then dispatch_failed(handle, err) end
end

-- ---- waiting: a call suspended until the core resumes it ---------------------------------------

-- resume(token, ...): the core resumes the call waiting on token (a core.timer fired, work it ran
-- for the call is done); the values after the token become the results of the coroutine.yield
-- the call waits in (a timer passes none). A token no call waits on (any more) is ignored.
local sweep_token, sweep_limits   -- (below)

local function resume(token, ...)
  local co = waiting[token]
  if co == nil then
    if token == sweep_token then return sweep_limits() end
    return
  end
  waiting[token] = nil
  local h, t0 = calls[co], core_now()
  guard_resume(h, t0)
  local ok, res = co_resume(co, ...)
  guard_stop()
  guard_check(t0, h)
  return settle(co, ok, res)
end

local function safe_resume(token, ...)
  local ok, err = xpcall(resume, traceback, token, ...)
  if not ok then core_log("error", "pikku resume failure: " .. tostring(err)) end
end

-- A new token for the core to resume a call with (core.timer(ms, token), ...).
local function new_token()
  timer_seq = timer_seq + 1
  return timer_seq
end

-- Suspends the running call until the core calls resume(token, ...), and returns the values it
-- passed after the token. The call is registered only here, right before it yields: a token whose
-- timer or work could not be started is never waited on.
-- After a wait: the request's or the channel's index of waits forgets it.
local function req_waited(handle, token, ...)
  if req_wait[handle] == token then req_wait[handle] = nil end
  return ...
end
local function chan_waited(cid, token, ...)
  local set = chan_waits[cid]
  if set then
    set[token] = nil
    if next(set) == nil then chan_waits[cid] = nil end
  end
  return ...
end

local watch_limit   -- (h, token): below, with the sweep

local function unwatched(token, ...)
  limit_waits[token] = nil
  return ...
end

local function suspend(token)
  local co = co_running()
  waiting[token] = co
  local h = calls[co]
  if h == nil or h == TASK then return co_yield(SLEEPING) end
  if rawget(h, "_chan") then   -- a channel's call: abandoned with its connection, or at its time limit
    local cid = h.cid
    local set = chan_waits[cid]
    if set == nil then set = {}; chan_waits[cid] = set end
    set[token] = true
    watch_limit(h, token)
    return chan_waited(cid, token, unwatched(token, co_yield(SLEEPING)))
  end
  local handle = h.handle
  if type(handle) == "number" then   -- a request of the core: its tick watches the time limit
    req_wait[handle] = token
    return req_waited(handle, token, co_yield(SLEEPING))
  end
  -- a job's attempt, a schedule's tick, an in-process request (pikku test): the runtime's sweep
  watch_limit(h, token)
  if handle == nil then return unwatched(token, co_yield(SLEEPING)) end
  req_wait[handle] = token
  return req_waited(handle, token, unwatched(token, co_yield(SLEEPING)))
end

-- Whether the running coroutine is one of the runtime's (it runs a call or a task: it may wait).
local function in_call()
  local co = co_running()
  return co ~= nil and calls[co] ~= nil
end

--- runtime.sleep(ms): suspends the running call; the core resumes it after ms milliseconds.
local MAX_SLEEP_MS = 2 ^ 31 - 1   -- about 24.8 days, as JavaScript's setTimeout

-- token -> true while a call sleeps on it (services.sleep): an abandoned call's sleep ends at once
local sleeping = {}

-- Cancels what the call waiting on token waits for: a sleep ("sleep"), or an outbound operation
-- (M.cancel_hook, set by pikku.outbound: true). false when there was nothing to cancel.
local function cancel_wait(token)
  if sleeping[token] then
    sleeping[token] = nil   -- its timer fires later, for a token no call waits on: ignored
    return "sleep"
  end
  local hook = M.cancel_hook
  return hook ~= nil and hook(token) or false
end

-- What an abandoned sleep raises: the error an abandoned outbound call raises (pikku.outbound).
local function sleep_abandoned(msg)
  local e = errors.new("ClientClosedRequest", 499, "sleep: abandoned: " .. tostring(msg))
  e.kind, e.service = "abandoned", "sleep"
  error(e, 3)
end

function M.sleep(ms)
  if not in_call() then
    error("pikku.sleep: called outside a function call; sleep only works in code that runs for a"
      .. " request (inside the function, not at load time or in a coroutine of your own)", 2)
  end
  local n = tonumber(ms)
  if n == nil or n ~= n or n < 0 or n > MAX_SLEEP_MS then   -- n ~= n: NaN
    error("pikku.sleep: ms must be a number from 0 to " .. MAX_SLEEP_MS .. " (24 days), got " .. tostring(ms), 2)
  end
  local token = new_token()
  core_timer(n, token)
  sleeping[token] = true
  local _, kind, msg = suspend(token)
  sleeping[token] = nil
  if kind == "abandoned" then sleep_abandoned(msg) end
end

--- M.pbkdf2_wait(password, salt, iterations, keylen) -> key, false (failed), or nil when the running
--- code cannot wait (no call of the runtime runs it: load time): PBKDF2-HMAC-SHA256 on libuv's
--- thread pool while this call is suspended, so a login does not stop the worker. The core
--- resumes the call with the key (or false) as resume(token, key).
function M.pbkdf2_wait(password, salt, iterations, keylen)
  if not in_call() then return nil end
  local token = new_token()
  work_c.pbkdf2_async(password, salt, iterations, keylen, token)
  return suspend(token) or false
end

--- runtime._wait(register): suspends the running call; register(token) is called first, and the
--- call goes on when the core calls resume(token) (core.timer(ms, token)). For pikku test's
--- in-process connections and its per-test timeouts.
function M._wait(register)
  if not in_call() then
    error("waiting for a channel message needs a coroutine of the runtime (every pikku test runs in one)", 3)
  end
  local token = new_token()
  register(token)
  suspend(token)
end

-- ---- tasks -------------------------------------------------------------------------------------

local function task_body(fn, ...)
  local ok, err = xpcall(fn, traceback, ...)
  if not ok then core_log("error", "pikku task failed: " .. tostring(err)) end
  return TASK_DONE
end

--- runtime.spawn(fn, ...): runs fn(...) in a coroutine of the runtime, so it may sleep and make
--- in-process requests; returns at once (fn may finish later, on the core's loop).
function M.spawn(fn, ...)
  local co = co_create(task_body)
  local outer = in_call()   -- spawned from a call: the call's record stays
  calls[co] = TASK
  if not outer then guard_begin(nil, nil, 0) end
  local ok, res = co_resume(co, fn, ...)
  if not outer then guard_stop() end
  return settle(co, ok, res)
end

--- runtime.hold(obj, close) -> the running call's coroutine: close(obj) runs when that call ends
--- (returns, raises, or unwinds after being abandoned) unless runtime.let_go(co, obj) came first.
--- nil (nothing held) outside a call of the runtime.
function M.hold(obj, close)
  local co = co_running()
  if co == nil or calls[co] == nil then return nil end
  local t = held[co]
  if t == nil then
    t = {}
    held[co] = t
  end
  t[obj] = close
  return co
end

--- runtime.let_go(co, obj): obj was closed by its owner; nothing to do at the call's end.
function M.let_go(co, obj)
  local t = co and held[co]
  if t then t[obj] = nil end
end

-- For pikku.outbound: a call waits on a token (new_token, then suspend) that the core resumes with
-- the operation's result; an abandoned call's operation is cancelled through M.cancel_hook(token).
M.new_token, M.suspend, M.in_call = new_token, suspend, in_call
M.cancel_hook = nil

-- Why a call was abandoned (the core's word, then the message its outbound call fails with).
local ABANDONED = {
  gone = "the call was abandoned: its client is gone",
  limit = "the call was abandoned: it waited past its time limit",
  drain = "the call was abandoned: the worker stopped at the end of its drain (--drain-timeout-ms)",
}

-- abandon(kind, id, why): a call's client is gone ("gone"), it waited past its time limit
-- ("limit"), or the worker stops at the end of a drain ("drain"). kind "request": the call of
-- request handle id; "channel": every call of channel connection id (its messages, on_connect; an
-- event stream's function). Each such call waiting on an operation that can be cancelled (an
-- outbound call, a sleep) has it cancelled and is resumed with (nil, "abandoned", message): it unwinds.
-- kind "all" (the end of a drain, after the requests and channels had theirs): every call still
-- waiting has its operation cancelled but is not resumed, as the process ends (jobs, ticks,
-- tasks: a job not reported goes back to waiting at the next start).
local function abandon(kind, id, why)
  local msg = ABANDONED[why] or ABANDONED.gone
  if kind == "request" then
    local token = req_wait[id]
    if token and waiting[token] and cancel_wait(token) then resume(token, nil, "abandoned", msg) end
    return
  end
  local tokens, n = {}, 0
  if kind == "channel" then
    local set = chan_waits[id]
    chan_waits[id] = nil
    for token in pairs(set or tokens) do n = n + 1; tokens[n] = token end
  else
    for token in pairs(waiting) do n = n + 1; tokens[n] = token end
  end
  for i = 1, n do
    local token = tokens[i]
    -- (a call resumed before may have ended this one's wait meanwhile)
    if waiting[token] and cancel_wait(token) and kind == "channel" then resume(token, nil, "abandoned", msg) end
  end
end

-- ---- calls that wait past their time limit ---------------------------------------------------
-- An HTTP request's call is the core's (pk__call_guard_expire, at its tick: 503). The others (a
-- channel's message, binary message, on_connect, an event stream's function; a job's attempt, a
-- schedule's tick, a run_later task) are watched here while they wait: one core.timer per Lua state,
-- armed for the earliest deadline (at most SWEEP_MAX_MS ahead, so a state a reload left is not kept
-- open long by it), finds those past their limit. Each is answered as failed at once (h._on_limit:
-- an error frame, a failed attempt, a failed tick; logged), marked done (what it answers later goes
-- nowhere), and an outbound operation it waits on is cancelled: it is resumed with an "abandoned"
-- error and unwinds, as abandon does (a sleep is cut short). A wait nothing can cancel (a password
-- hash) ends when it ends.
local SWEEP_MAX_MS = 1000
local sweep_at = nil   -- when the armed sweep fires (core.now() ms), nil: none armed
local ceil = math.ceil

local function arm_sweep(deadline, now, force)
  local at = deadline
  if at > now + SWEEP_MAX_MS then at = now + SWEEP_MAX_MS end
  if sweep_at and sweep_at <= at and not force then return end
  local token = new_token()   -- a timer armed before fires for nothing (its token is not sweep_token)
  sweep_token, sweep_at = token, at
  local ms = at - now
  core_timer(ms > 0 and ceil(ms) or 0, token)
end

watch_limit = function(h, token)
  local limit = call_guard.call_limit(h)
  if limit == nil then return end
  limit_waits[token] = h
  local deadline = h._started + limit
  if sweep_at == nil or deadline < sweep_at then return arm_sweep(deadline, core_now()) end
  -- an armed sweep overdue by a second: its timer is gone (pikku test drops the timers a test that
  -- timed out left behind)
  local now = core_now()
  if sweep_at < now - SWEEP_MAX_MS then arm_sweep(deadline, now, true) end
end

-- What the log lines of a call over its limit end with (cancel_wait's answer -> text; none: "").
-- h._on_limit(h, e, limit_ms, text, cancelled) gets it as `cancelled`.
local LIMIT_CANCELLED = { [true] = "; the outbound operation it waited on is cancelled",
  sleep = "; its sleep is cut short" }

local function over_limit(h, token, now)
  limit_waits[token] = nil
  local how = cancel_wait(token)
  local cancelled = LIMIT_CANCELLED[how] or ""
  if not rawget(h, "_limited") then   -- (a call that caught its abandoned error and waits again: cancelled only)
    h._limited = true
    h._done = true   -- the runner's finish does nothing for it any more
    local limit, text = call_guard.call_limit(h)
    local e = errors.ServiceUnavailable(format("the call waited %.0f ms, past its time limit of %.0f ms, and was"
      .. " stopped (timeout_ms of pikku.func, pikku.limits or --call-timeout-ms)", now - h._started, limit))
    local on_limit = rawget(h, "_on_limit")
    local ok, err = xpcall(on_limit or function()
      core_log("error", format("%s: the call waited past its time limit of %.0f ms and was stopped%s", text or "a call",
        limit, cancelled), h._rid)
      local handle = rawget(h, "handle")   -- an in-process request: answered as the core answers one
      if type(handle) == "table" then respond_error(handle, e, nil, "Retry-After: 1\r\n") end
    end, traceback, h, e, limit, text, cancelled)
    if not ok then core_log("error", "pikku: answering a call over its time limit failed: " .. tostring(err)) end
  end
  if how then resume(token, nil, "abandoned", ABANDONED.limit) end
end

sweep_limits = function()
  sweep_token, sweep_at = nil, nil
  local now = core_now()
  local due, n, next_at = nil, 0, nil
  for token, h in pairs(limit_waits) do
    if waiting[token] == nil then
      limit_waits[token] = nil
    else
      local deadline = h._started + call_guard.call_limit(h)
      if deadline <= now then
        due = due or {}
        n = n + 1
        due[n] = token
      elseif next_at == nil or deadline < next_at then
        next_at = deadline
      end
    end
  end
  for i = 1, n do
    local token = due[i]
    local h = limit_waits[token]   -- (a call resumed before may have ended this one's wait meanwhile)
    if h and waiting[token] then over_limit(h, token, now) end
  end
  if next_at and (sweep_at == nil or next_at < sweep_at) then arm_sweep(next_at, core_now()) end
end

local function safe_abandon(kind, id, why)
  local ok, err = xpcall(abandon, traceback, kind, id, why)
  if not ok then core_log("error", "pikku abandon failure: " .. tostring(err)) end
end

-- ---- channels (pikku.channel does the work) ----------------------------------------------------

local function channel_open(cid, index, path, query, ...)
  local r = routes[index]
  if r and r.channel_route then r = r.channel_route end   -- a GET route sharing its path with a channel
  if r and r.kind == "sse" then return channel.open_sse(cid, r, path, query, ...) end
  if r == nil or r.kind ~= "channel" then
    core_log("error", "channel_open: no channel route with index " .. tostring(index))
    if core.ws_close then core.ws_close(cid, 1011, "InternalServerError") end
    return
  end
  return channel.open(cid, r, path, query, ...)
end

-- Never let an error escape to C; a failure closes the connection (1011).
local function safe_channel_open(cid, ...)
  local ok, err = xpcall(channel_open, traceback, cid, ...)
  if not ok then
    core_log("error", "pikku channel_open failure: " .. tostring(err))
    if core.ws_close then core.ws_close(cid, 1011, "InternalServerError") end
  end
end

local function safe_channel_message(cid, data, is_binary)
  local ok, err = xpcall(channel.message, traceback, cid, data, is_binary)
  if not ok then
    core_log("error", "pikku channel_message failure: " .. tostring(err))
    if core.ws_close then core.ws_close(cid, 1011, "InternalServerError") end
  end
end

local function safe_channel_close(cid, code)
  local ok, err = xpcall(channel.close, traceback, cid, code)
  if not ok then core_log("error", "pikku channel_close failure: " .. tostring(err)) end
end

-- ---- jobs and schedules (pikku.jobs does the work) ---------------------------------------------

local function safe_job_run(job, attempt, queue, key, data, timeout)
  local ok, err = xpcall(jobs.job_run, traceback, job, attempt, queue, key, data, timeout)
  if not ok then
    core_log("error", "pikku job_run failure: " .. tostring(err))
    require("pikku.jobs_c").result(job, attempt, jobs.FAIL, "pikku job_run failure: " .. tostring(err))
  end
end

local function safe_tick(name, execution_ms, catch_up)
  local ok, err = xpcall(jobs.tick, traceback, name, execution_ms, catch_up)
  if not ok then
    core_log("error", "pikku tick failure: " .. tostring(err))
    require("pikku.jobs_c").tick_done(name, execution_ms, jobs.FAIL, "pikku tick failure: " .. tostring(err))
  end
end

-- ---- loading (pikku.app_loader does the work) --------------------------------------------------

M.call_id = current_call_id   -- for pikku.trace (the traceparent of outbound calls)

local loader_ctx = {
  sleep = M.sleep, call_id = current_call_id,
  set_services = function(svc) services = svc end,
}

--- runtime.load(app_dir) -> { dispatch, resume, channel_open, channel_message, channel_close }, the
--- entry points the core keeps (docs/internals.md); raises "file:line: message" on failure.
-- The error a call over its time limit is stopped with (the core's watchdog raises it inside the
-- call: core/src/call_guard.c): a 503, or an error frame on a channel.
local function overrun(limit_ms, ran_ms)
  return errors.ServiceUnavailable(format("the call ran %.0f ms, over its time limit of %.0f ms, and was stopped"
    .. " (timeout_ms of pikku.func, pikku.limits or --call-timeout-ms)", ran_ms, limit_ms))
end

function M.load(app_dir)
  dev = core.dev and true or false
  require("pikku.native").install((tostring(app_dir):gsub("/+$", "")))   -- require finds the app's C modules
  require("pikku.gc_headroom").start()   -- a small heap is not collected every few hundred requests
  local app = app_loader.load(app_dir, loader_ctx)
  routes, rpc_plans, services = app.routes, app.rpc_plans, app.services
  call_guard.setup(app)
  debug.getregistry()["pikku.overrun"] = overrun
  cors_on, key_param, challenge = app.cors, app.key_param, app.challenge
  channel.setup({ start_call = start_call, dev = dev, services = services }, app.channels)
  loop_guard.set_routes(routes)
  jobs.setup({ start_call = start_call, services = services }, app.schedules, app.queues)
  return {
    dispatch = safe_dispatch, resume = safe_resume, abandon = safe_abandon,
    dispatch_direct = dispatch_direct, dispatch_failed = dispatch_failed, traceback = traceback,
    dispatch_decoded = dispatch_decoded, decoders = body_decoders(),
    channel_open = safe_channel_open, channel_message = safe_channel_message, channel_close = safe_channel_close,
    job_run = safe_job_run, tick = safe_tick,
  }
end

--- runtime.jobs_config() -> the loaded app's schedules and queues as plain settings (pikku.jobs
--- config()), for the master and the pikku schedules / queues commands.
function M.jobs_config() return jobs.config() end

--- runtime.services() -> the singleton services of the loaded app
function M.services() return services end

--- runtime.routes() -> the loaded routes (for tools: method, route, kind, def, auth)
function M.routes() return routes end

-- ---- calls without a socket (pikku.inprocess does the work) ------------------------------------

queue_service.setup { new_token = new_token, suspend = suspend, in_call = in_call }
inprocess.setup {
  respond_error = respond_error, dispatch = safe_dispatch, in_call = in_call, new_token = new_token,
  suspend = suspend, wait = M._wait, routes = M.routes, services = M.services, abandon = safe_abandon,
}
M.invoke, M.request = inprocess.invoke, inprocess.request
M.channel, M.sse, M.listen = inprocess.channel, inprocess.sse, inprocess.listen

return M
