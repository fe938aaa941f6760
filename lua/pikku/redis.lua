-- pikku.redis: Redis for functions (a pooled connection per command, pipelines, MULTI/EXEC) on hiredis.
local M = {}

local redis_c = require "pikku.redis_c"
local outbound = require "pikku.outbound"
local pipeline_mod = require "pikku.pipeline"

local type, tostring, tonumber, error, setmetatable, rawget =
  type, tostring, tonumber, error, setmetatable, rawget
local lower, match, format, gsub = string.lower, string.match, string.format, string.gsub
local co_running = coroutine.running
local wait, fail, redact, number = outbound.wait, outbound.fail, outbound.redact, outbound.number
local c_connect = redis_c.connect

--- The value of a nil reply inside an array (a top-level nil reply is nil); cjson.null.
M.null = require("cjson").null

M.defaults = { pool_size = 16, timeout_ms = 10000, connect_timeout_ms = 5000, pool_wait_ms = 5000 }

local function unescape(s)
  return (gsub(s, "%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- parse_url("redis://user:password@host:port/db") -> { host, port, user, password, db }
function M.parse_url(url)
  if type(url) ~= "string" then error("pikku.redis: the URL must be a string like redis://host:6379/0", 3) end
  local rest = match(url, "^redis://(.*)$")
  if rest == nil then
    error("pikku.redis: unsupported URL " .. redact(url)
      .. " (redis://[user:password@]host[:port][/db]; rediss:// is not supported)", 3)
  end
  local cfg = { port = 6379, db = 0 }
  local auth, hostpart = match(rest, "^([^@]*)@(.*)$")
  if auth then
    local u, p = match(auth, "^([^:]*):(.*)$")
    if u then
      cfg.user = u ~= "" and unescape(u) or nil
      cfg.password = unescape(p)
    else
      cfg.password = unescape(auth)
    end
  else
    hostpart = rest
  end
  local hp, db = match(hostpart, "^([^/]*)/?(%d*)$")
  if hp == nil then error("pikku.redis: cannot read the URL " .. redact(url), 3) end
  if db ~= "" then cfg.db = tonumber(db) end
  local h6, p6 = match(hp, "^%[(.-)%]:?(%d*)$")
  local host, port
  if h6 then host, port = h6, p6 else host, port = match(hp, "^([^:]*):?(%d*)$") end
  cfg.host = (host and host ~= "") and host or "127.0.0.1"
  if port and port ~= "" then cfg.port = tonumber(port) end
  return cfg
end

local Client = {}

-- One command on a connection lent by the pool: the reply, or (nil, kind, message).
local function exec_on(conn, timeout, cmd, ...)
  local r, kind, msg = wait("pikku.redis", function(token, ...)
    return conn:command(token, timeout, ...)   -- (nil, "closed", message): the write failed
  end, function() conn:cancel() end, cmd, ...)
  return r, kind, msg
end

local function open(self)
  local cfg = self.cfg
  local conn
  local ok, kind, msg = wait("pikku.redis", function(token)
    local c, k, m = c_connect(cfg.host, cfg.port, token, self.connect_timeout)
    if c == nil then return nil, k, m end
    conn = c
  end, function() if conn then conn:cancel() end end)
  if not ok then
    if conn then conn:close() end
    fail("pikku.redis", kind, format("cannot connect to %s:%d: %s", cfg.host, cfg.port, tostring(msg)), nil, 3)
  end
  local function setup(...)
    local r, k, m = exec_on(conn, self.timeout, ...)
    if r == nil and k then
      conn:close()
      fail("pikku.redis", k == "redis" and "auth" or k, m, nil, 4)
    end
  end
  if cfg.password then
    if cfg.user then setup("AUTH", cfg.user, cfg.password) else setup("AUTH", cfg.password) end
  end
  if cfg.db and cfg.db ~= 0 then setup("SELECT", cfg.db) end
  return conn
end

--- connect(url?, opts?) -> a client (no connection is made until a command runs). url defaults to
--- $REDIS_URL, then redis://127.0.0.1:6379/0. opts: pool_size (16), timeout_ms (10000, per
--- command), connect_timeout_ms (5000), pool_wait_ms (5000).
function M.connect(url, opts)
  url = url or os.getenv("REDIS_URL") or "redis://127.0.0.1:6379/0"
  opts = opts or {}
  local d = M.defaults
  local self = setmetatable({
    url = redact(url), cfg = M.parse_url(url),
    timeout = number(opts.timeout_ms, "pikku.redis: timeout_ms", d.timeout_ms),
    connect_timeout = number(opts.connect_timeout_ms, "pikku.redis: connect_timeout_ms", d.connect_timeout_ms),
    pins = setmetatable({}, { __mode = "k" }),     -- coroutine -> { conn, call } during MULTI/WATCH
    pipes = setmetatable({}, { __mode = "k" }),    -- coroutine -> { call, cmds } during init_pipeline
  }, Client)
  self.pool = outbound.pool {
    service = "pikku.redis", size = number(opts.pool_size, "pikku.redis: pool_size", d.pool_size),
    wait_ms = number(opts.pool_wait_ms, "pikku.redis: pool_wait_ms", d.pool_wait_ms),
    open = function() return open(self) end,
    alive = function(c) return c:alive() end,
    close = function(c) c:close() end,
  }
  return self
end

-- The identity of the running call (a pooled coroutine runs many calls, one after the other).
local function call_id(co)
  return pipeline_mod.root_wire(co) or co
end

local PIN = { multi = true, watch = true }
local UNPIN = { exec = true, discard = true }
local REFUSED = { subscribe = true, psubscribe = true, ssubscribe = true, monitor = true }

--- client:call(command, ...) -> the reply: a string, a number, nil, or a list (nil elements are
--- pikku.redis.null, error elements { false, message }). An error reply raises (kind "redis").
function Client:call(cmd, ...)
  if type(cmd) ~= "string" then error("pikku.redis: the command must be a string", 2) end
  local lc = lower(cmd)
  if REFUSED[lc] then
    error("pikku.redis: " .. cmd .. " holds a connection for good; use services.eventhub, or pikku.socket"
      .. " with a driver", 2)
  end
  local co = co_running()
  local pipe = self.pipes[co]
  if pipe and pipe.call == call_id(co) then
    local n = #pipe.cmds + 1
    pipe.cmds[n] = { cmd, ... }
    return nil
  end
  local pin = self.pins[co]
  if pin and pin.call ~= call_id(co) then   -- left by an earlier call of this coroutine
    self.pins[co] = nil
    self.pool:release(pin.conn, true)
    pin = nil
  end
  local conn, fresh
  if pin then conn = pin.conn else conn, fresh = self.pool:acquire() end
  local r, kind, msg = exec_on(conn, self.timeout, cmd, ...)
  if r == nil and kind == "closed" and not fresh and not pin then   -- an idle connection the server dropped
    self.pool:release(conn, true)
    conn = self.pool:acquire()
    r, kind, msg = exec_on(conn, self.timeout, cmd, ...)
  end
  local broken = r == nil and kind ~= nil and kind ~= "redis"
  if pin then
    if broken or UNPIN[lc] or (lc == "unwatch" and not pin.multi) then
      self.pins[co] = nil
      self.pool:release(conn, broken)
    elseif lc == "multi" then
      pin.multi = true
    end
  elseif PIN[lc] and not broken and not (r == nil and kind) then
    self.pins[co] = { conn = conn, call = call_id(co), multi = lc == "multi" }
  else
    self.pool:release(conn, broken)
  end
  if r == nil and kind then fail("pikku.redis", kind, format("%s (%s)", tostring(msg), cmd), nil, 2) end
  return r
end

--- client:init_pipeline(): the running call's next commands are queued (each returns nil) until
--- commit_pipeline() sends them at once and returns their replies as a list (as lua-resty-redis).
function Client:init_pipeline()
  local co = co_running()
  self.pipes[co] = { call = call_id(co), cmds = {} }
end

function Client:cancel_pipeline()
  self.pipes[co_running()] = nil
end

--- client:commit_pipeline() -> { reply1, reply2, ... } (an error reply is { false, message }).
function Client:commit_pipeline()
  local co = co_running()
  local pipe = self.pipes[co]
  self.pipes[co] = nil
  if pipe == nil or pipe.call ~= call_id(co) then error("pikku.redis: commit_pipeline without init_pipeline", 2) end
  return self:pipeline(pipe.cmds)
end

--- client:pipeline({ {"SET", "a", 1}, {"GET", "a"} }) -> the replies, in one round trip.
function Client:pipeline(cmds)
  if type(cmds) ~= "table" or #cmds == 0 then error("pikku.redis: pipeline expects a non-empty list of commands", 2) end
  local co = co_running()
  local pin = self.pins[co]
  if pin and pin.call ~= call_id(co) then self.pins[co] = nil; self.pool:release(pin.conn, true); pin = nil end
  local conn = pin and pin.conn or self.pool:acquire()
  local r, kind, msg = wait("pikku.redis", function(token)
    return conn:pipeline(token, self.timeout, cmds)
  end, function() conn:cancel() end)
  local broken = r == nil and kind ~= nil
  if pin then
    if broken then self.pins[co] = nil; self.pool:release(conn, true) end
  else
    self.pool:release(conn, broken)
  end
  if r == nil then fail("pikku.redis", kind, format("%s (pipeline of %d)", tostring(msg), #cmds), nil, 2) end
  return r
end

--- client:close(): closes its idle connections (a later command opens new ones).
function Client:close() self.pool:close() end

--- client:stats() -> { open, idle, waiting, size }
function Client:stats() return self.pool:stats() end

-- r:get(k), r:set(k, v), r:hset(...): any other name is the Redis command of that name
Client.__index = function(_, k)
  local m = rawget(Client, k)
  if m ~= nil then return m end
  if type(k) ~= "string" then return nil end
  local f = function(s, ...) return s:call(k, ...) end
  Client[k] = f
  return f
end


return M
