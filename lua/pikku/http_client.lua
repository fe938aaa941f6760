-- Outbound HTTP(S) for functions: pikku.http.request/get/post/json on libcurl's multi interface (pikku.http_c).
local M = {}

local http_c = require "pikku.http_c"
local outbound = require "pikku.outbound"
local json = require "pikku.json"
local trace = require "pikku.trace"
local runtime = require "pikku.runtime"
local core = require "pikku.core"

local type, tostring, pairs, error, setmetatable = type, tostring, pairs, error, setmetatable
local find, upper, lower, sub, format = string.find, string.upper, string.lower, string.sub, string.format
local wait, fail, redact, number = outbound.wait, outbound.fail, outbound.redact, outbound.number
local c_request, c_cancel = http_c.request, http_c.cancel
local c_read, c_wait, c_close = http_c.read, http_c.wait, http_c.close
local hold, let_go, core_timer = runtime.hold, runtime.let_go, core.timer

--- Defaults for every request of this app (change with pikku.http.configure).
M.defaults = {
  timeout_ms = 30000,          -- the whole transfer, connection included
  connect_timeout_ms = 10000,
  max_body = 16 * 1024 * 1024, -- bytes of response body
  follow_redirects = false,    -- true: up to 5; a number: up to that many
  ca_file = nil,               -- a PEM bundle to trust instead of the system's
  verify = true,               -- false turns certificate checks off (tests only)
}

--- configure{ timeout_ms, connect_timeout_ms, max_body, follow_redirects, ca_file, verify }
function M.configure(t)
  if type(t) ~= "table" then error("pikku.http.configure: expected a table", 2) end
  for k, v in pairs(t) do
    if M.defaults[k] == nil and k ~= "ca_file" then
      error("pikku.http.configure: unknown setting " .. tostring(k), 2)
    end
    M.defaults[k] = v
  end
end

-- The header lines, with the running call's traceparent (pikku.trace) unless one is given.
local function header_lines(h)
  if h ~= nil and type(h) ~= "table" then error("pikku.http: headers must be a table { [name] = value }", 4) end
  local lines, n, traced = {}, 0, false
  for k, v in pairs(h or {}) do
    local line
    if type(k) == "number" then line = tostring(v)   -- a list of "Name: value" lines
    else line = tostring(k) .. ": " .. tostring(v) end
    if find(line, "[\r\n%z]") then error("pikku.http: a header contains CR, LF or NUL: " .. line, 4) end
    if lower(sub(line, 1, 12)) == "traceparent:" then traced = true end
    n = n + 1
    lines[n] = line
  end
  local tp = not traced and trace.traceparent()
  if tp then
    n = n + 1
    lines[n] = "traceparent: " .. tp
  end
  return n > 0 and lines or nil
end

local function redirects(v)
  if v == true then return 5 end
  if v == false or v == nil then return 0 end
  return number(v, "pikku.http: follow_redirects", 0)
end

-- ---- streamed responses -----------------------------------------------------------------------

--- A streamed response's body (request{ stream = true }): the transfer goes on in C, at most
--- http_c.STREAM_BUFFER bytes ahead of the reads (paused past it), until read to the end, closed,
--- or the call that made it ends.
local Reader = {}
Reader.__index = Reader

-- The transfer is over for Lua: freed in C, and the call no longer holds it.
local function drop(self)
  local ud = self.ud
  if ud == nil then return end
  self.ud = nil
  c_close(ud)
  let_go(self.owner, self)
  local token = self.waiting
  if token then   -- another call waits in read(): it goes on (and finds the end)
    self.waiting = nil
    core_timer(0, token)
  end
end

--- reader:read() -> the next chunk (a string), or nil at the end (and after close). Waits (the
--- call yields) until data is there. A failure of the transfer (timeout, closed, too_large,
--- abandoned, ...) raises a pikku error with .kind, as request does, once what came before it
--- was read.
function Reader:read()
  local e = self.err
  if e then fail("pikku.http", e[1], e[2], nil, 2) end
  while true do
    local ud = self.ud
    if ud == nil then return nil end
    local v, kind, msg = c_read(ud)
    if type(v) == "string" then return v end
    if v == false then
      drop(self)
      return nil
    end
    if v == nil then
      drop(self)
      self.err = { kind, format("%s %s: %s", self.method, self.url, tostring(msg)) }
      fail("pikku.http", kind, self.err[2], nil, 2)
    end
    if self.waiting then error("pikku.http: a streamed response is read by two calls at once", 2) end
    local ok, k2, m2 = wait("pikku.http", function(t)
      local waiting = c_wait(ud, t)
      if waiting == nil then return nil, "closed" end
      if not waiting then return nil, "ready" end
      self.waiting = t
    end, function() self.waiting = nil; drop(self) end)
    self.waiting = nil
    if ok == nil and k2 ~= nil and k2 ~= "ready" and k2 ~= "closed" then   -- abandoned
      drop(self)
      self.err = { k2, format("%s %s: %s", self.method, self.url, tostring(m2)) }
      fail("pikku.http", k2, self.err[2], nil, 2)
    end
  end
end

--- reader:close(): abandons the transfer (its connection is closed unless it was done). Reads
--- return nil after it. Also done when the call ends.
function Reader:close() drop(self) end

--- reader:chunks() -> an iterator: for chunk in reader:chunks() do ... end
function Reader:chunks()
  return function() return self:read() end
end

-- A streamed response: { status, headers, version, reader } with read/close/chunks of its reader.
local Streamed = {}
Streamed.__index = Streamed
function Streamed:read() return self.reader:read() end
function Streamed:close() return self.reader:close() end
function Streamed:chunks() return self.reader:chunks() end

--- request{ method = "GET", url, headers = { name = value }, body, timeout_ms, max_body,
--- follow_redirects, connect_timeout_ms, ca_file, verify, decode, stream } -> { status, headers,
--- body, version } (version: "1.1", "2", ...). With stream = true it returns as soon as the head
--- is there, body nil, and the body comes through res:read() / res:chunks() (res.reader);
--- max_body then bounds nothing unless given. decode = false: the body as the server sent it
--- (compressed when its Content-Encoding says so), and no Accept-Encoding added.
--- Any status is returned; a failure (timeout, dns, refused, tls, too_large, closed, redirects,
--- url, abandoned) raises a pikku error with .kind.
function M.request(opts)
  if type(opts) ~= "table" then error("pikku.http.request: expected a table { url = ..., method = ... }", 2) end
  local url = opts.url
  if type(url) ~= "string" then error("pikku.http.request: url must be a string", 2) end
  local d = M.defaults
  local body = opts.body
  if body ~= nil and type(body) ~= "string" then
    error("pikku.http.request: body must be a string (use pikku.http.json for tables)", 2)
  end
  local stream, decode = opts.stream, opts.decode
  if stream ~= nil and type(stream) ~= "boolean" then error("pikku.http.request: stream must be a boolean", 2) end
  if decode ~= nil and type(decode) ~= "boolean" then error("pikku.http.request: decode must be a boolean", 2) end
  local req = {
    method = upper(opts.method or (body and "POST") or "GET"), url = url,
    headers = header_lines(opts.headers), body = body,
    timeout_ms = number(opts.timeout_ms, "pikku.http: timeout_ms", d.timeout_ms),
    connect_timeout_ms = number(opts.connect_timeout_ms, "pikku.http: connect_timeout_ms", d.connect_timeout_ms),
    max_body = number(opts.max_body, "pikku.http: max_body", not stream and d.max_body or nil),
    stream = stream or nil, decode = decode,
    max_redirects = redirects(opts.follow_redirects == nil and d.follow_redirects or opts.follow_redirects),
    ca_file = opts.ca_file or d.ca_file,
    verify = opts.verify == nil and d.verify or opts.verify,
  }
  local token
  local status, headers, rbody, version = wait("pikku.http", function(t)
    token = t
    c_request(t, req)
  end, function() c_cancel(token) end)
  if status == nil then
    fail("pikku.http", headers, format("%s %s: %s", req.method, redact(url), tostring(rbody)), nil, 2)
  end
  if stream then
    local reader = setmetatable({ ud = rbody, method = req.method, url = redact(url) }, Reader)
    reader.owner = hold(reader, drop)   -- closed when this call ends, read to the end or not
    return setmetatable({ status = status, headers = headers, version = version, reader = reader }, Streamed)
  end
  return { status = status, headers = headers, body = rbody, version = version }
end

--- get(url, opts?) -> { status, headers, body }
function M.get(url, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.url, o.method = url, o.method or "GET"
  return M.request(o)
end

--- post(url, body, opts?) -> { status, headers, body }
function M.post(url, body, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.url, o.method, o.body = url, o.method or "POST", body
  return M.request(o)
end

--- json{ url, method?, body = table? (sent as JSON), ... } -> { status, headers, body, json }:
--- json is the decoded response body (nil when it is empty); raises when it is not JSON.
function M.json(opts)
  if type(opts) ~= "table" then error("pikku.http.json: expected a table { url = ..., body = {...} }", 2) end
  if opts.stream then error("pikku.http.json: stream is not supported (use pikku.http.request)", 2) end
  local o, h = {}, {}
  for k, v in pairs(opts) do o[k] = v end
  for k, v in pairs(opts.headers or {}) do h[k] = v end
  h["Accept"] = h["Accept"] or "application/json"
  if opts.body ~= nil and type(opts.body) ~= "string" then
    local s, err = json.encode(opts.body)
    if s == nil then error("pikku.http.json: the body cannot be encoded as JSON: " .. tostring(err), 2) end
    o.body = s
    h["Content-Type"] = h["Content-Type"] or "application/json"
  end
  o.headers = h
  local res = M.request(o)
  if res.body ~= "" then
    local v, err = json.decode(res.body)
    if v == nil and err then
      fail("pikku.http", "json", format("%s: the response is not JSON (%s)", redact(opts.url), tostring(err)), nil, 2)
    end
    res.json = v
  end
  return res
end

M.version = http_c.version

return M
