-- In-process channel connections for `pikku test` (t.channel, t.sse, t.subscribe): no socket.
-- One of the two transports behind pikku.channel_transport (ids < 0), and the test's end of each
-- connection: what the server sends lands in its inbox, what the test sends goes to pikku.channel.
local M = {}

local core = require "pikku.core"
local http = require "pikku.http"
local json = require "pikku.json"

local type, tostring, pairs, ipairs, next, error, setmetatable =
  type, tostring, pairs, ipairs, next, error, setmetatable
local unpack = unpack   -- LuaJIT (Lua 5.1)
local match, lower, sub, gmatch = string.match, string.lower, string.sub, string.gmatch
local remove = table.remove
local json_encode, json_decode = json.encode, json.decode
local core_timer, core_match = core.timer, core.match

--- Topics one connection may hold, and the longest topic name: the core's limits (PK__WS_MAX_TOPICS,
--- PK__WS_MAX_TOPIC_LEN in core/src/ws_topics.h), kept by in-process connections too, refused with
--- the core's messages.
local MAX_TOPICS, TOO_MANY_TOPICS = core.MAX_TOPICS, core.TOO_MANY_TOPICS
local MAX_TOPIC_LEN, TOPIC_TOO_LONG = core.MAX_TOPIC_LEN, core.TOPIC_TOO_LONG

local function too_long(topic)
  return type(topic) == "string" and #topic > MAX_TOPIC_LEN
end

-- ---- set once by pikku.inprocess ---------------------------------------------------------------

-- pikku.channel's entry points open(cid, r, path, query, ...), open_sse(...), message(cid, data,
-- is_binary), close(cid, code); wait(register), runtime._wait; abandon(kind, id, why), the runtime's
local entry = {}

function M.setup(ctx)
  entry = ctx
end

-- ---- the transport -----------------------------------------------------------------------------

local fakes = {}             -- id -> open in-process connection
local fake_topics = {}       -- topic -> { [id] = true }
local fake_seq = 0

local close_fake   -- defined with the connection object below

--- send(cid, data, binary) -> true, or nil when the connection is gone
function M.send(cid, data, binary)
  local f = fakes[cid]
  if f == nil then return nil end
  return f:_deliver(data, binary)
end

--- close(cid, code, reason): the server closes the connection (on_disconnect runs)
function M.close(cid, code, reason)
  local f = fakes[cid]
  if f == nil then return nil end
  return close_fake(f, code or 1000, reason, true)
end

--- set(cid, key, value_or_nil) / get(cid, key): the connection's strings
function M.set(cid, key, value)
  local f = fakes[cid]
  if f == nil or f.closed then return nil end
  f.store[key] = value
  return true
end

function M.get(cid, key)
  local f = fakes[cid]
  if f == nil then return nil end
  return f.store[key]
end

--- subscribe(cid, topic) -> true, or nil and why (over MAX_TOPICS, or a name over MAX_TOPIC_LEN)
function M.subscribe(cid, topic)
  local f = fakes[cid]
  if f == nil or f.closed then return nil end
  if too_long(topic) then return nil, TOPIC_TOO_LONG end
  if not f.topics[topic] then
    if f.ntopics >= MAX_TOPICS then return nil, TOO_MANY_TOPICS end
    f.ntopics = f.ntopics + 1
  end
  local set = fake_topics[topic]
  if set == nil then
    set = {}
    fake_topics[topic] = set
  end
  set[cid] = true
  f.topics[topic] = true
  return true
end

--- unsubscribe(cid, topic) -> true (nil when the connection is gone; nil, why for a name over
--- MAX_TOPIC_LEN)
function M.unsubscribe(cid, topic)
  if too_long(topic) then return nil, TOPIC_TOO_LONG end
  local f = fakes[cid]
  if f == nil then return nil end
  local set = fake_topics[topic]
  if set then
    set[cid] = nil
    if next(set) == nil then fake_topics[topic] = nil end
  end
  if f.topics[topic] then f.ntopics = f.ntopics - 1 end
  f.topics[topic] = nil
  return true
end

--- publish(topic, text, exclude) -> number of in-process receivers (exclude: an id, or nil); nil,
--- why for a name over MAX_TOPIC_LEN
function M.publish(topic, text, exclude)
  if too_long(topic) then return nil, TOPIC_TOO_LONG end
  local n = 0
  local set = fake_topics[topic]
  if set then
    local ids = {}
    for id in pairs(set) do
      if id ~= exclude then ids[#ids + 1] = id end
    end
    for _, id in ipairs(ids) do
      if fakes[id] and fakes[id]:_deliver(text, false) then n = n + 1 end
    end
  end
  return n
end

--- peer(cid) -> "127.0.0.1", 0 while the connection is open, else nil
function M.peer(cid)
  if fakes[cid] then return "127.0.0.1", 0 end
  return nil
end

--- opening(cid) -> the handle to read the opening request's headers with (the connection itself,
--- see http.fake_request), and the session the test gave it (or nil)
function M.opening(cid)
  local f = fakes[cid]
  if f == nil then return cid, nil end
  return f, f.given_session
end

-- ---- the test's end of a connection ------------------------------------------------------------

local Fake = {}
Fake.__index = Fake

Fake.header, Fake.headers = http.fake_request.header, http.fake_request.headers

-- A frame from the server: kept in .messages (all) and the inbox (not yet received).
function Fake:_deliver(data, binary)
  if self.closed then return nil end
  local v
  if binary then
    v = { binary = data }
  else
    v = json_decode(data)
    if v == nil then v = data end
  end
  self.messages[#self.messages + 1] = v
  self.inbox[#self.inbox + 1] = v
  self.frames[#self.frames + 1] = data
  local token = self.waiter
  if token then
    self.waiter = nil
    core_timer(0, token)
  end
  return true
end

close_fake = function(f, code, reason, by_server)
  if f.closed then return nil end
  f.closed = { code = code, reason = reason, by_server = by_server or false }
  for topic in pairs(f.topics) do M.unsubscribe(f.id, topic) end
  local token = f.waiter
  if token then
    f.waiter = nil
    core_timer(0, token)
  end
  -- as the core does: the connection's waiting calls are abandoned, then on_disconnect runs
  if f.store.channel then
    entry.abandon("channel", f.id, "gone")
    entry.close(f.id, code)
  end
  fakes[f.id] = nil
  return true
end

--- conn:send(msg): a text message (a table is sent as JSON).
function Fake:send(msg)
  if self.closed then error("t.channel: the connection is closed", 2) end
  if type(msg) == "table" then msg = json_encode(msg) end
  entry.message(self.id, msg, false)
end

--- conn:send_binary(bytes)
function Fake:send_binary(bytes)
  if self.closed then error("t.channel: the connection is closed", 2) end
  entry.message(self.id, bytes, true)
end

--- conn:receive(timeout_ms?) -> the next message from the server (decoded JSON, a string, or
--- { binary = bytes }), waiting up to timeout_ms (default 1000); nil when none came or closed.
function Fake:receive(timeout)
  local inbox = self.inbox
  if inbox[1] == nil and not self.closed then
    entry.wait(function(token)
      self.waiter = token
      core_timer(timeout or 1000, token)
    end)
    self.waiter = nil
  end
  if inbox[1] == nil then return nil end
  return remove(inbox, 1)
end

--- conn:call(msg, timeout_ms?) -> sends msg, returns the next message (its reply, in-process).
function Fake:call(msg, timeout)
  self:send(msg)
  return self:receive(timeout)
end

--- conn:close(code?): the client closes the connection (on_disconnect runs).
function Fake:close(code)
  return close_fake(self, code or 1000, nil, false)
end

--- new(headers?, session?) -> an in-process connection that is not open on a channel
--- (t.subscribe uses it to listen to topics).
function M.new(headers, session)
  fake_seq = fake_seq + 1
  local hdrs = {}
  for k, v in pairs(headers or {}) do hdrs[lower(k)] = tostring(v) end
  if hdrs.host == nil then hdrs.host = "localhost" end
  local f = setmetatable({
    id = -fake_seq, hdrs = hdrs, given_session = session, store = {}, topics = {}, ntopics = 0,
    messages = {}, inbox = {}, frames = {},
  }, Fake)
  fakes[f.id] = f
  return f
end

-- The in-process GET that opens a channel or an event stream: the route at req.path must be of
-- `kind`; open(cid, r, path, query, params...) starts it on a new in-process connection. Callers
-- tail-call it, so error level 3 is the test code that called t.channel or t.sse.
local function connect(req, routes, kind, helper, wanted, open)
  if type(req) ~= "table" then req = { path = req } end
  local target = req.path or "/"
  if sub(target, 1, 1) ~= "/" then error(helper .. ": path must start with '/'", 3) end
  local path, query = match(target, "^([^?#]*)%??([^#]*)")
  if query == "" then query = nil end
  local index, params = core_match("GET", path)
  local r = index and routes[index]
  if r and kind == "channel" and r.channel_route then r = r.channel_route end   -- shares a GET route's path
  if r == nil or r.kind ~= kind then
    error(helper .. ": no " .. wanted .. " is wired at GET " .. path, 3)
  end
  local f = M.new(req.headers, req.session)
  if r.protocols and f.hdrs["sec-websocket-protocol"] then   -- as the core agrees one at the upgrade
    local ours = {}
    for _, p in ipairs(r.protocols) do ours[p] = true end
    for offer in gmatch(f.hdrs["sec-websocket-protocol"], "[^,%s]+") do
      if ours[offer] then f.store.protocol = offer break end
    end
  end
  open(f.id, r, path, query, unpack(params))
  return f
end

--- connect { path, headers?, session? } -> an in-process WebSocket connection (t.channel).
function M.connect(req, routes)
  return connect(req, routes, "channel", "t.channel", "channel", entry.open)
end

--- connect_sse { path, headers?, session? } -> an in-process event stream (t.sse): the GET on an
--- sse route runs as over a socket; each event arrives as a message (conn:receive()).
function M.connect_sse(req, routes)
  return connect(req, routes, "sse", "t.sse", "sse route (wire_http { sse = true })", entry.open_sse)
end

return M
