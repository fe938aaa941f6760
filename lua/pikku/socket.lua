-- pikku.socket: cosocket-style TCP/TLS sockets (OpenResty's ngx.socket.tcp API) for pure-Lua drivers.
local M = {}

local socket_c = require "pikku.socket_c"
local outbound = require "pikku.outbound"
local core = require "pikku.core"

local type, tostring, tonumber, error, setmetatable, concat, remove =
  type, tostring, tonumber, error, setmetatable, table.concat, table.remove
local find, sub, byte = string.find, string.sub, string.byte
local wait = outbound.wait
local now = core.now

M.defaults = { timeout_ms = 60000, keepalive_ms = 60000, pool_size = 30 }

--- configure{ ca_file = "/path/ca.pem" } (trusted by sslhandshake besides the system's CAs),
--- timeout_ms, keepalive_ms, pool_size.
function M.configure(t)
  for k, v in pairs(t) do
    if k == "ca_file" then socket_c.set_ca_file(v)
    elseif M.defaults[k] ~= nil then M.defaults[k] = v
    else error("pikku.socket.configure: unknown setting " .. tostring(k), 2) end
  end
end

-- key -> list of { c, expires, reused, tls } (idle connections, newest last)
local pools = {}

local ERR = { refused = "connection refused", timeout = "timeout", closed = "closed" }
local function errstr(kind, msg)
  if ERR[kind] then return ERR[kind] end
  if kind == "dns" then return "failed to resolve: " .. tostring(msg) end
  return tostring(msg)
end

local Sock = {}
Sock.__index = Sock

--- tcp() -> a socket object (ngx.socket.tcp)
function M.tcp()
  local t = M.defaults.timeout_ms
  return setmetatable({ c = nil, buf = "", ct = t, st = t, rt = t, reused = 0, tls = false }, Sock)
end

function Sock:settimeout(ms)
  ms = tonumber(ms) or 0
  self.ct, self.st, self.rt = ms, ms, ms
end

function Sock:settimeouts(c, s, r)
  self.ct, self.st, self.rt = tonumber(c) or self.ct, tonumber(s) or self.st, tonumber(r) or self.rt
end

function Sock.setoption() return true end

function Sock:getreusedtimes()
  if self.c == nil then return nil, "closed" end
  return self.reused
end

-- Runs a C operation on the connection and waits for it.
local function op(self, name, ...)
  local c = self.c
  return wait("pikku.socket", function(token, ...)
    return c[name](c, token, ...)
  end, function() c:cancel() end, ...)
end

--- sock:connect(host, port, opts?) -> 1 | nil, err. opts.pool names the keepalive pool
--- (default "host:port"). A connection from the pool is reused when one is idle there.
function Sock:connect(host, port, opts)
  if type(host) ~= "string" then error("pikku.socket: connect(host, port): host must be a string", 2) end
  if sub(host, 1, 5) == "unix:" then return nil, "unix domain sockets are not supported by pikku.socket" end
  port = tonumber(port)
  if port == nil then return nil, "pikku.socket: connect needs a port" end
  if self.c then self:close() end
  local key = (opts and opts.pool) or (host .. ":" .. port)
  self.key, self.buf, self.tls, self.reused = key, "", false, 0
  local list = pools[key]
  while list and #list > 0 do
    local e = remove(list)
    if e.expires > now() and e.c:alive() then
      self.c, self.reused, self.tls = e.c, e.reused + 1, e.tls
      return 1
    end
    e.c:close()
  end
  self.c = socket_c.new()
  local ok, kind, msg = op(self, "connect", host, port, self.ct)
  if not ok then
    self.c:close()
    self.c = nil
    return nil, errstr(kind, msg)
  end
  return 1
end

--- sock:sslhandshake(reused_session?, server_name?, ssl_verify?) -> true | nil, err. Sessions
--- are not kept: the first value is always true. ssl_verify defaults to false as in OpenResty.
function Sock:sslhandshake(_reused_session, server_name, ssl_verify)
  if self.c == nil then return nil, "closed" end
  if self.tls then return true end   -- a pooled connection that is TLS already
  local ok, kind, msg = op(self, "handshake", server_name, ssl_verify and true or false, self.ct)
  if not ok then
    self:close()
    return nil, errstr(kind, msg)
  end
  self.tls = true
  return true
end

local function flatten(data, out, n)
  for i = 1, #data do
    local v = data[i]
    if type(v) == "table" then n = flatten(v, out, n)
    else n = n + 1; out[n] = tostring(v) end
  end
  return n
end

--- sock:send(data) -> bytes | nil, err. data: a string, a number, or a (nested) list of them.
function Sock:send(data)
  if self.c == nil then return nil, "closed" end
  if type(data) == "table" then
    local out = {}
    flatten(data, out, 0)
    data = concat(out)
  elseif type(data) ~= "string" then
    data = tostring(data)
  end
  local n, kind, msg = op(self, "send", data, self.st)
  if n == nil then
    if kind ~= "timeout" then self:close() end
    return nil, errstr(kind, msg)
  end
  return #data
end

-- Reads more bytes into the buffer: true, or nil, err (the connection closes unless a timeout).
local function fill(self)
  if self.c == nil then return nil, "closed" end
  local data, kind, msg = op(self, "read", self.rt)
  if data == nil then
    if kind ~= "timeout" then
      self.c:close()
      self.c = nil
    end
    return nil, errstr(kind, msg)
  end
  self.buf = self.buf .. data
  return true
end

local function take(self, n)
  local buf = self.buf
  local s = sub(buf, 1, n)
  self.buf = sub(buf, n + 1)
  return s
end

local function fail_partial(self, err)
  local partial = self.buf
  self.buf = ""
  return nil, err, partial
end

--- sock:receive(pattern?) -> data | nil, err, partial. pattern: "*l" (default: a line, without
--- its LF and an optional CR before it), "*a" (until the peer closes), or a byte count.
function Sock:receive(pattern)
  pattern = pattern or "*l"
  if type(pattern) == "number" or tonumber(pattern) then
    local n = tonumber(pattern)
    if n < 0 then error("pikku.socket: receive: bad count " .. tostring(pattern), 2) end
    while #self.buf < n do
      local ok, err = fill(self)
      if not ok then return fail_partial(self, err) end
    end
    return take(self, n)
  end
  if pattern == "*l" or pattern == "l" then
    while true do
      local i = find(self.buf, "\n", 1, true)
      if i then
        local line = take(self, i)
        local e = #line - 1
        if e > 0 and byte(line, e) == 13 then e = e - 1 end
        return sub(line, 1, e)
      end
      local ok, err = fill(self)
      if not ok then return fail_partial(self, err) end
    end
  end
  if pattern == "*a" or pattern == "a" then
    while true do
      local ok, err = fill(self)
      if not ok then
        if err == "closed" then return take(self, #self.buf) end
        return fail_partial(self, err)
      end
    end
  end
  error("pikku.socket: receive: bad pattern " .. tostring(pattern), 2)
end

--- sock:receiveany(max) -> data (what is buffered or arrives next, at most max bytes) | nil, err
function Sock:receiveany(max)
  max = tonumber(max)
  if not max or max <= 0 then error("pikku.socket: receiveany: max must be > 0", 2) end
  if #self.buf == 0 then
    local ok, err = fill(self)
    if not ok then return nil, err end
  end
  return take(self, max)
end

--- sock:receiveuntil(pattern, { inclusive = bool }?) -> iterator(size?): returns the data before
--- the next `pattern` (with it when inclusive); with size, at most size bytes per call, then nil
--- once the pattern is reached. Errors: nil, err, partial.
function Sock:receiveuntil(pattern, opts)
  if type(pattern) ~= "string" or pattern == "" then
    error("pikku.socket: receiveuntil: pattern must be a non-empty string", 2)
  end
  local inclusive = opts and opts.inclusive
  local plen = #pattern
  local done = false   -- (with size) the pattern was reached: the next call returns nil
  return function(size)
    if done then done = false; return nil end
    while true do
      local i, j = find(self.buf, pattern, 1, true)
      if i then
        if size and i - 1 > size then return take(self, size) end
        local data = take(self, inclusive and j or i - 1)
        if not inclusive then take(self, plen) end
        if size then done = true end
        return data
      end
      if size and #self.buf - plen + 1 >= size then return take(self, size) end
      local ok, err = fill(self)
      if not ok then return fail_partial(self, err) end
    end
  end
end

--- sock:close() -> 1 | nil, "closed"
function Sock:close()
  local c = self.c
  if c == nil then return nil, "closed" end
  self.c = nil
  self.buf = ""
  c:close()
  return 1
end

--- sock:setkeepalive(timeout_ms?, pool_size?) -> 1 | nil, err: puts the connection in the pool of
--- its key for reuse by a later connect (timeout_ms of idleness at most, 0: no limit).
function Sock:setkeepalive(timeout, size)
  local c = self.c
  if c == nil then return nil, "closed" end
  if #self.buf > 0 then self:close(); return nil, "unread data in buffer" end
  timeout = tonumber(timeout) or M.defaults.keepalive_ms
  size = tonumber(size) or M.defaults.pool_size
  self.c = nil
  local list = pools[self.key]
  if list == nil then list = {}; pools[self.key] = list end
  if #list >= size then remove(list, 1).c:close() end
  local expires = timeout > 0 and now() + timeout or math.huge
  list[#list + 1] = { c = c, expires = expires, reused = self.reused, tls = self.tls }
  return 1
end

return M
