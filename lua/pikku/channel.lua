-- WebSocket channels: the entry points channel_open / channel_message / channel_close of the C
-- contract (docs/internals.md), message routing, replies and error frames, and wire.channel.
-- What goes over a connection goes through pikku.channel_transport (the core's connections, or
-- pikku test's in-process ones).
--
-- Everything about a connection lives in C, as per-connection strings (core.channel_set):
--   "channel" = the channel's name, "opening" = its opening data (JSON), "session" = the session
--   (JSON), "state" = wire.channel.state (JSON).
-- Lua keeps nothing it cannot rebuild from them, so connections survive a reload: the new state
-- finds the channel by name and the session in C.
local M = {}

local core = require "pikku.core"
local errors = require "pikku.errors"
local http = require "pikku.http"
local json = require "pikku.json"
local pipeline = require "pikku.pipeline"

local transport = require "pikku.channel_transport"

local type, tostring, pairs, ipairs, next, error, select, setmetatable, getmetatable, rawget, rawset =
  type, tostring, pairs, ipairs, next, error, select, setmetatable, getmetatable, rawget, rawset
local format, find = string.format, string.find
local co_running = coroutine.running
local json_encode, json_decode, json_null, array_mt = json.encode, json.decode, json.null, json.array_mt
local is_error = errors.is
local unescape, parse_pairs, http_new = http.unescape, http.parse_pairs, http.new
local WireMT = pipeline.WireMT

-- ---- set by the runtime at every load ----------------------------------------------------------

local rt = {}          -- start_call(entry, h, data), dev, services
local channels = {}    -- name -> compiled channel (see runtime.load)

function M.setup(ctx, compiled)
  rt = ctx
  channels = compiled
end

-- ---- the connection, through its transport -----------------------------------------------------

local c_send, c_close, c_get, c_peer, c_opening =
  transport.send, transport.close, transport.get, transport.peer, transport.opening
local t_set = transport.set

-- The core drops a connection's strings before it calls channel_close, so for channels with an
-- on_disconnect Lua mirrors them: cid -> { channel, opening, session, state }. The mirror is
-- made at the upgrade, and rebuilt from C by the first message a new state (after a reload)
-- sees on a connection; channel_close prefers what the transport still has (an in-process
-- connection keeps its strings through channel_close, so its mirror is never read).
local mirror = {}

local function c_set(cid, key, value)
  local m = mirror[cid]
  if m then m[key] = value end
  return t_set(cid, key, value)
end

M.subscribe = transport.subscribe       -- (cid, topic) -> true | nil, why
M.unsubscribe = transport.unsubscribe   -- (cid, topic) -> true | nil, why
--- M.publish(topic, text, exclude) -> number of local receivers, or nil, why (a topic name over the
--- core's limit). text is sent as it is.
M.publish = transport.publish

-- ---- JSON helpers ------------------------------------------------------------------------------

local function decode_or_nil(s)
  if s == nil then return nil end
  local v = json_decode(s)
  if v == json_null then return nil end
  return v
end

-- A text message goes to the decoder only when it can start a JSON value: plain text skips it.
local JSON_START = '^%s*[%[{"%-0-9tfn]'
local function decode_message(s)
  if find(s, JSON_START) then return json_decode(s) end
  return nil
end

local function is_array(t)
  return getmetatable(t) == array_mt or t[1] ~= nil
end

local function encode_value(v, what)
  local s, err = json_encode(v)
  if s == nil then error(what .. ": cannot encode the value as JSON: " .. tostring(err), 3) end
  return s
end

-- ---- wire.channel ------------------------------------------------------------------------------

local Chan = {}     -- methods; each also works called with "." (wire.channel.send(x))
local ChanMT = {}

local function self_or(c, a, b)
  if a == c then return b end
  return a
end

-- RFC 6455 close codes an endpoint may send (besides 3000-4999)
local SENDABLE = { [1000] = true, [1001] = true, [1002] = true, [1003] = true, [1007] = true, [1008] = true,
                   [1009] = true, [1010] = true, [1011] = true }

local BOUND = {
  send = function(c) return function(a, b)
    local data = self_or(c, a, b)
    local t = type(data)
    if t == "string" then return c_send(c.id, data, false) == true end
    if t == "table" or t == "number" or t == "boolean" then
      return c_send(c.id, encode_value(data, "wire.channel.send"), false) == true
    end
    error("wire.channel.send: data must be a table, a string, a number or a boolean, got " .. t, 2)
  end end,
  send_binary = function(c) return function(a, b)
    local bytes = self_or(c, a, b)
    if type(bytes) ~= "string" then
      error("wire.channel.send_binary: bytes must be a string, got " .. type(bytes), 2)
    end
    return c_send(c.id, bytes, true) == true
  end end,
  close = function(c) return function(a, b, d)
    local code, reason = a, b
    if a == c then code, reason = b, d end
    if code ~= nil and not (type(code) == "number" and (SENDABLE[code] or (code >= 3000 and code <= 4999
        and code % 1 == 0))) then
      error("wire.channel.close: code must be 1000, 1001-1003, 1007-1011 or an integer from 3000 to 4999, got "
        .. tostring(code), 2)
    end
    if reason ~= nil and (type(reason) ~= "string" or #reason > 123) then
      error("wire.channel.close: reason must be a string of at most 123 bytes", 2)
    end
    return c_close(c.id, code or 1000, reason)
  end end,
  get_state = function(c) return function()
    return Chan.read_state(c)
  end end,
  set_state = function(c) return function(a, b)
    local t = self_or(c, a, b)
    return Chan.write_state(c, t)
  end end,
}

function Chan.read_state(c)
  local s = rawget(c, "_state_text")
  if s == nil and not rawget(c, "_gone") then s = c_get(c.id, "state") end
  local v = decode_or_nil(s)
  if type(v) ~= "table" then v = {} end
  return v
end

function Chan.write_state(c, t)
  if t == json_null then t = nil end   -- JSON null clears it, as nil does
  if t ~= nil and type(t) ~= "table" then
    error("wire.channel.state: the state must be a table or nil, got " .. type(t), 3)
  end
  local s = t ~= nil and encode_value(t, "wire.channel.state") or nil
  if rawget(c, "_gone") then
    rawset(c, "_state_text", s)
    return nil
  end
  return c_set(c.id, "state", s)
end

ChanMT.__index = function(c, k)
  if k == "state" then return Chan.read_state(c) end
  if k == "remote_addr" or k == "remote_port" then   -- the client's TCP address, while connected
    if rawget(c, "_gone") then return nil end
    local ip, port = c_peer(c.id)
    if k == "remote_addr" then return ip end
    return port
  end
  if k == "protocol" then   -- the subprotocol agreed at the upgrade (pikku.wire_channel protocols)
    if rawget(c, "_gone") then return nil end
    return c_get(c.id, "protocol")
  end
  if k == "opening_data" then
    local s = rawget(c, "_opening_text")
    if s == nil and not rawget(c, "_gone") then s = c_get(c.id, "opening") end
    local v = decode_or_nil(s)
    if type(v) ~= "table" then v = {} end
    rawset(c, "opening_data", v)
    return v
  end
  local make = BOUND[k]
  if make then
    local f = make(c)
    rawset(c, k, f)
    return f
  end
  return Chan[k]
end

ChanMT.__newindex = function(c, k, v)
  if k == "state" then return Chan.write_state(c, v) end
  if k == "id" or k == "name" or k == "opening_data" or k == "protocol" or k == "remote_addr"
      or k == "remote_port" or BOUND[k] then
    error("wire.channel." .. tostring(k) .. " is read-only", 2)
  end
  rawset(c, k, v)
end

-- Called by wire.set_session / wire.clear_session (pikku.pipeline) on a channel's wire.
function Chan:_store_session(session)
  local s = nil
  if session ~= nil then s = encode_value(session, "wire.set_session") end
  if rawget(self, "_gone") then return end
  c_set(self.id, "session", s)
end

local function new_channel(cid, name)
  return setmetatable({ id = cid, name = name }, ChanMT)
end
M.new_channel = new_channel

-- ---- finishing a call --------------------------------------------------------------------------

-- The error frame: {"error": message, "errorName": name, "payload"?, "errorId", <key>: value, "id"?}
local function error_frame(h, e, tb)
  local id = h._rid or core.gen_id()
  local name, _, message, payload, log = errors.for_client(e, rt.dev)
  if log and not rawget(h, "_logged") then core.log_error(id, tb or tostring(e)) end
  local out = { error = message, errorName = name, payload = payload, errorId = id }
  if h.key then out[h.key] = h.value end
  if h.reqid ~= nil then out.id = h.reqid end
  local s = json_encode(out)
  if s == nil then
    out.payload = nil
    s = json_encode(out)
  end
  return s
end

local function send_error(h, e, tb)
  return c_send(h.cid, error_frame(h, e, tb), false)
end

-- The reply to a routed message: the result with the routing key (and the request's id) added.
local function reply_frame(h, res)
  local out
  if res == nil then
    out = {}
  elseif type(res) == "table" and not is_array(res) then
    out = {}
    for k, v in pairs(res) do out[k] = v end
  else
    out = { result = res }
  end
  out[h.key] = h.value
  if h.reqid ~= nil then out.id = h.reqid end
  return json_encode(out)
end

-- A call that ended by being abandoned (runtime abandon: its connection is gone, or the worker's
-- drain ended): there is no one to answer, so nothing is sent, and one info line says so.
local function abandoned(h, ok, res)
  if ok or not (is_error(res) and res.kind == "abandoned") then return false end
  core.log("info", format('channel "%s": a call of connection %s was abandoned (%s); %s', tostring(h.name),
    tostring(h.cid), tostring(res.message), res.service == "sleep" and "its sleep was cut short"
    or "its outbound operation was cancelled"), h._rid)
  return true
end

-- runtime's runner calls h._on_finish(h, ok, result, traceback) when the call is over.
local function finish_reply(h, ok, res, tb)
  if abandoned(h, ok, res) then return end
  if not ok then return send_error(h, res, tb) end
  local s, err = reply_frame(h, res)
  if s == nil then
    return send_error(h, "the function's result cannot be encoded as JSON: " .. tostring(err))
  end
  return c_send(h.cid, s, false)
end

-- Sends a result as JSON text, or an error frame when it cannot be encoded.
local function send_json(h, value)
  local s, err = json_encode(value)
  if s == nil then
    return send_error(h, "the function's result cannot be encoded as JSON: " .. tostring(err))
  end
  return c_send(h.cid, s, false)
end

-- on_message (a message no routing key matched): a non-nil result is sent as it is (an object
-- gets the request's id when it had one).
local function finish_raw(h, ok, res, tb)
  if abandoned(h, ok, res) then return end
  if not ok then return send_error(h, res, tb) end
  if res == nil then return end
  if type(res) == "string" then return c_send(h.cid, res, false) end
  if h.reqid ~= nil and type(res) == "table" and not is_array(res) then
    local out = {}
    for k, v in pairs(res) do out[k] = v end
    out.id = h.reqid
    res = out
  end
  return send_json(h, res)
end

-- on_binary: a string result goes back as a binary frame, anything else as JSON text.
local function finish_binary(h, ok, res, tb)
  if abandoned(h, ok, res) then return end
  if not ok then return send_error(h, res, tb) end
  if res == nil then return end
  if type(res) == "string" then return c_send(h.cid, res, true) end
  return send_json(h, res)
end

-- on_connect: a non-nil result is sent as the first message; an error closes the connection
-- (1008 with the error's name for a 4xx, 1011 for anything else, which is logged).
-- Messages that arrive while on_connect has not finished (it waits on a service) are held, in
-- order, and run once it has succeeded; if it refuses the connection they are dropped. At most
-- HELD_MAX per connection: a client that sends more before it is accepted is closed (1008).
local HELD_MAX = 256
local held = {}     -- cid -> list of { data, is_binary } (present while on_connect runs)

local function release_held(cid, accepted)
  local list = held[cid]
  held[cid] = nil
  if not accepted or list == nil then return end
  for i = 1, #list do M.message(cid, list[i][1], list[i][2]) end
end

local function finish_connect(h, ok, res, tb)
  if abandoned(h, ok, res) then held[h.cid] = nil return end
  if ok then
    if res ~= nil then
      local s = type(res) == "string" and res or json_encode(res)
      if s == nil then
        held[h.cid] = nil
        core.log("error", format('channel "%s": on_connect returned a result that cannot be encoded as JSON',
          h.name))
        return c_close(h.cid, 1011, "InternalServerError")
      end
      c_send(h.cid, s, false)
    end
    return release_held(h.cid, true)
  end
  held[h.cid] = nil
  if is_error(res) and res.status < 500 then
    return c_close(h.cid, 1008, res.name)
  end
  if not rawget(h, "_logged") then core.log_error(h._rid or core.gen_id(), tb or tostring(res)) end
  return c_close(h.cid, 1011, "InternalServerError")
end

local function finish_disconnect(h, ok, res, tb)
  if ok or rawget(h, "_logged") then return end
  if is_error(res) and res.status < 500 then
    core.log("warn", format('channel "%s": on_disconnect raised %s', h.name, tostring(res)))
    return
  end
  core.log_error(h._rid or core.gen_id(), tb or tostring(res))
end

-- The runtime's time-limit sweep: call h waited past its time limit (limit_ms; text: what it runs,
-- from pikku.call_guard). One error line names the channel, the connection and the limit; the
-- client gets what a failed call gets (e: ServiceUnavailable): an error frame, the connection
-- staying open (on_connect: closed 1011, as when it fails; an event stream: its error event).
local function on_limit(h, e, limit_ms, text, cancelled)
  local id = h._rid
  if id == nil then
    id = core.gen_id()
    h._rid = id
  end
  core.log("error", format('%s: a call of connection %.0f waited past its time limit of %.0f ms and was stopped%s',
    text or format('channel "%s"', tostring(h.name)), h.cid, limit_ms, cancelled), id)
  h._logged = true
  return h._on_finish(h, false, e, nil)
end

-- A call object for the runtime's runner (like wire.http for an HTTP call).
local function new_call(cid, ch, on_finish, w)
  return { _chan = true, _on_finish = on_finish, _on_limit = on_limit, cid = cid, name = ch.name, _wire = w }
end

local function new_wire(chan, session)
  return setmetatable({ channel = chan, session = session, _services = rt.services }, WireMT)
end

-- ---- the entry points --------------------------------------------------------------------------

local function close_reason(e)
  if is_error(e) then return e.name end
  return "InternalServerError"
end

-- The session of a connection's opening request (a WebSocket upgrade or an event stream's GET),
-- from its cookie, bearer token or API key as over HTTP; an in-process connection (t.channel,
-- t.sse) reads its own headers, or takes the session it was given. Returns true, session or
-- false, error (bad credentials when strict).
local function opening_session(cid, path, query, params, strict)
  local handle, given = c_opening(cid)
  if given ~= nil then return true, given end
  local h = http_new(handle, "GET", path, query, nil, params)
  local w = setmetatable({ http = h, _services = rt.services }, WireMT)
  local ok, e = pcall(pipeline.resolve_session, rt.services, w, strict, true)
  if not ok then return false, e end
  return true, rawget(w, "session")
end

--- channel_open(cid, route, path, query, p1, ...): the connection was upgraded on a channel route.
function M.open(cid, r, path, query, ...)
  local ch = r.channel
  -- the opening data: route params, then the query (a param wins over a query key of the same name)
  local params = nil
  local opening = {}
  if query ~= nil and query ~= "" then parse_pairs(query, opening) end
  local n = r.n or 0
  if n > 0 then
    params = {}
    for i = 1, n do
      local v = unescape((select(i, ...)) or "")
      params[r.names[i]] = v
      opening[r.names[i]] = v
    end
  end
  local ok, session = opening_session(cid, path, query, params, ch.auth == true)
  if not ok then
    local e = session
    if not is_error(e) then core.log("error", "channel " .. ch.name .. ": session: " .. tostring(e)) end
    return c_close(cid, 1008, close_reason(e))
  end
  if ch.auth == true and session == nil then
    return c_close(cid, 1008, "MissingSession")
  end
  if ch.disconnect then mirror[cid] = {} end
  c_set(cid, "channel", ch.name)
  if next(opening) ~= nil then
    local s = json_encode(opening)
    if s then c_set(cid, "opening", s) end
  end
  if session ~= nil then
    local s = json_encode(session)
    if s == nil then
      core.log("error", "channel " .. ch.name .. ": the session cannot be encoded as JSON")
      return c_close(cid, 1011, "InternalServerError")
    end
    c_set(cid, "session", s)
  end
  if ch.connect then
    local chan = new_channel(cid, ch.name)
    rawset(chan, "opening_data", opening)
    local w = new_wire(chan, session)
    held[cid] = {}
    rt.start_call(ch.connect.entry, new_call(cid, ch, finish_connect, w), opening)
  end
end

-- Server-sent events: the function's result (when not nil) is one more event; the stream stays
-- open for what it sent and for its topics. An error is an event {"type":"error",...}, then the end.
local function finish_sse(h, ok, res, tb)
  if abandoned(h, ok, res) then return end
  if not ok then
    local id = h._rid or core.gen_id()
    local name, _, message, payload, log = errors.for_client(res, rt.dev)
    if log and not rawget(h, "_logged") then core.log_error(id, tb or tostring(res)) end
    local s = json_encode({ type = "error", name = name, message = message, payload = payload, errorId = id })
      or json_encode({ type = "error", name = name, message = message, errorId = id })
    c_send(h.cid, s, false)
    return c_close(h.cid, 1000, "")
  end
  if res == nil then return end
  local s = type(res) == "string" and res or json_encode(res)
  if s == nil then
    return finish_sse(h, false, "the function's result cannot be encoded as JSON", nil)
  end
  return c_send(h.cid, s, false)
end

--- open_sse(cid, r, path, query, p1, ...): a GET on an sse route; the core already answered 200
--- text/event-stream. The function runs through the pipeline with wire.channel = this stream.
function M.open_sse(cid, r, path, query, ...)
  local data = {}
  local params = nil
  if query ~= nil and query ~= "" then parse_pairs(query, data) end
  for i = 1, r.n or 0 do
    params = params or {}
    local v = unescape((select(i, ...)) or "")
    params[r.names[i]] = v
    data[r.names[i]] = v
  end
  local name = "sse " .. r.route
  local h = new_call(cid, { name = name }, finish_sse, nil)
  local ok, session = opening_session(cid, path, query, params, r.auth)
  if not ok then return finish_sse(h, false, session, nil) end
  local chan = new_channel(cid, name)
  rawset(chan, "opening_data", data)
  h._wire = new_wire(chan, session)
  return rt.start_call(r.entry, h, data)
end

local function copy_payload(msg, key, keep_id)
  local data = {}
  for k, v in pairs(msg) do
    if k ~= key and (keep_id or k ~= "id") then data[k] = v end
  end
  return data
end

-- The first routing key (in on_message_wiring's sorted order) whose value has a handler.
local function route_of(ch, msg)
  for _, k in ipairs(ch.keys) do
    local v = msg[k.key]
    if type(v) == "string" then
      local plan = k.handlers[v]
      if plan then return k.key, v, plan end
    end
  end
  return nil
end

-- The first routing key present in the message (for the error frame of an unknown value).
local function key_in(ch, msg)
  for _, k in ipairs(ch.keys) do
    local v = msg[k.key]
    if v ~= nil then return k.key, v end
  end
  return nil
end

local function session_of(cid)
  local s = decode_or_nil(c_get(cid, "session"))
  if type(s) ~= "table" then return nil end
  return s
end

--- channel_message(cid, data, is_binary): one complete message from the client.
function M.message(cid, data, is_binary)
  local list = held[cid]
  if list then   -- on_connect is still running: the message waits for it
    if #list >= HELD_MAX then
      held[cid] = nil
      return c_close(cid, 1008, "too many messages before on_connect finished")
    end
    list[#list + 1] = { data, is_binary }
    return
  end
  local name = c_get(cid, "channel")
  if name == nil then return end   -- refused at the upgrade, or already gone
  local ch = channels[name]
  if ch == nil then
    core.log("warn", format('channel "%s" is not wired any more (reloaded app?): closing connection %s',
      tostring(name), tostring(cid)))
    return c_close(cid, 1011, "channel not found")
  end
  if ch.disconnect and mirror[cid] == nil then
    mirror[cid] = { channel = name, opening = c_get(cid, "opening"), session = c_get(cid, "session"),
                    state = c_get(cid, "state") }
  end
  local chan = new_channel(cid, name)
  if is_binary then
    local h = new_call(cid, ch, finish_binary, nil)
    if not ch.binary then
      return send_error(h, errors.UnsupportedMediaType(format('channel "%s" does not accept binary messages',
        name)))
    end
    h._wire = new_wire(chan, session_of(cid))
    return rt.start_call(ch.binary.entry, h, data)
  end
  local msg, bad_json = decode_message(data)
  local object = json.is_object(msg)
  if object then
    local key, value, plan = route_of(ch, msg)
    if plan then
      local h = new_call(cid, ch, finish_reply, nil)
      h.key, h.value = key, value
      local reqid = msg.id
      if reqid ~= nil and reqid ~= json_null then h.reqid = reqid end
      h._wire = new_wire(chan, session_of(cid))
      return rt.start_call(plan.entry, h, copy_payload(msg, key, plan.keep_id))
    end
  end
  local h = new_call(cid, ch, finish_raw, nil)
  if object and msg.id ~= nil and msg.id ~= json_null then h.reqid = msg.id end
  if not ch.message then
    if msg == nil then
      return send_error(h, errors.BadRequest("malformed JSON message"
        .. (bad_json and " (" .. bad_json .. ")" or "") .. ": send a JSON object such as"
        .. ' {"<routing key>": "<value>", ...}'))
    end
    if object then
      local key, value = key_in(ch, msg)
      if key then
        h.key, h.value = key, value
        -- a table or null is named by its JSON type: tostring would show a heap address
        local t = type(value)
        local shown = (t == "table" and "(an object or array)") or (value == json_null and "null")
          or tostring(value)
        return send_error(h, errors.NotFound(format('no handler for %s "%s" on channel "%s"',
          key, shown, name)))
      end
    end
    return send_error(h, errors.NotFound(format('channel "%s" has no handler for this message (no routing'
      .. " key matched)", name)))
  end
  h._wire = new_wire(chan, session_of(cid))
  if msg == nil then msg = data end   -- not JSON: the text itself
  return rt.start_call(ch.message.entry, h, msg)
end

--- channel_close(cid, code): the connection is gone (its subscriptions are already dropped).
function M.close(cid, code)
  held[cid] = nil
  local m = mirror[cid]
  mirror[cid] = nil
  local name = c_get(cid, "channel")
  local get = c_get
  if name == nil and m then
    name = m.channel
    get = function(_, key) return m[key] end
  end
  if name == nil then return end
  local ch = channels[name]
  if ch == nil or not ch.disconnect then return end
  -- read everything now: the connection's strings are not kept after this call
  local chan = new_channel(cid, name)
  rawset(chan, "_opening_text", get(cid, "opening"))
  rawset(chan, "_state_text", get(cid, "state"))
  rawset(chan, "_gone", true)
  rawset(chan, "code", code)
  local session = decode_or_nil(get(cid, "session"))
  if type(session) ~= "table" then session = nil end
  local w = new_wire(chan, session)
  local opening = chan.opening_data
  rt.start_call(ch.disconnect.entry, new_call(cid, ch, finish_disconnect, w), opening)
end

--- M.current() -> the channel connection id of the call running now, or nil.
function M.current()
  local co = co_running()
  if co == nil then return nil end
  local w = pipeline.active[co] or pipeline.root_wire(co)
  local chan = w and w.channel
  if chan == nil or rawget(chan, "_gone") then return nil end
  return chan.id
end

return M
