-- The fixed part of client.lua (JSON, errors, transports, calls, channels); lua_client adds the rest.
-- luacheck: no max line length (the template is TypeScript / Lua source of its own)
return [==[
-- ---- runtime: plain LuaJIT + lua-cjson, or inside the pikku host --------------------------------

local type, pairs, ipairs, tostring, tonumber, setmetatable, getmetatable, error, pcall, require, select =
  type, pairs, ipairs, tostring, tonumber, setmetatable, getmetatable, error, pcall, require, select
local format, gsub, sub, byte, char, find, match, lower, rep =
  string.format, string.gsub, string.sub, string.byte, string.char, string.find, string.match, string.lower,
  string.rep
local concat, sort, floor, random = table.concat, table.sort, math.floor, math.random

local cjson = require "cjson.safe"
M.null = cjson.null

-- ---- JSON ---------------------------------------------------------------------------------------

local ARRAY = {}
--- M.array(t?) -> t marked as a JSON array, so that it is sent as [] even when empty.
function M.array(t) return setmetatable(t or {}, ARRAY) end

local host_array_mt
do
  local ok, pj = pcall(function() return package.loaded["pikku.json"] end)
  if ok and type(pj) == "table" then host_array_mt = pj.array_mt end
end

local function is_array(t)
  local mt = getmetatable(t)
  if mt == ARRAY or (host_array_mt and mt == host_array_mt) then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local ESC = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r',
              ['\t'] = '\\t' }
local function encode(v, out, depth)
  local t = type(v)
  if v == nil or v == cjson.null then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("client.lua: NaN or infinity is not JSON", 0) end
    out[#out + 1] = (v == floor(v) and v > -2^53 and v < 2^53) and format("%d", v) or format("%.17g", v)
  elseif t == "string" then
    out[#out + 1] = '"' .. gsub(v, '[%z\1-\31"\\]', function(c) return ESC[c] or format("\\u%04x", byte(c)) end) .. '"'
  elseif t == "table" then
    if depth > 100 then error("client.lua: a table nested too deeply (a cycle?)", 0) end
    if is_array(v) then
      out[#out + 1] = "["
      for i, x in ipairs(v) do
        if i > 1 then out[#out + 1] = "," end
        encode(x, out, depth + 1)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local first = true
      for k, x in pairs(v) do
        if not first then out[#out + 1] = "," end
        first = false
        encode(tostring(k), out, depth + 1)
        out[#out + 1] = ":"
        encode(x, out, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else
    error("client.lua: a " .. t .. " cannot be sent as JSON", 0)
  end
end

--- M.encode(value) -> JSON text (tables with keys 1..n, or marked by M.array, are arrays).
function M.encode(v)
  local out = {}
  encode(v, out, 0)
  return concat(out)
end

--- M.decode(text) -> value or nil, message (JSON null is M.null).
M.decode = cjson.decode

-- ---- errors -------------------------------------------------------------------------------------

local Error = {}
Error.__index = Error
Error.__tostring = function(e)
  return format("%s (%s): %s", tostring(e.name), tostring(e.status), tostring(e.message))
end
M.Error = Error

--- M.new_error(name, status, message, payload?, error_id?) -> an error table: the second result of a
--- failed call. Client-side failures have status 0: NetworkError, ConnectionClosed, Timeout.
function M.new_error(name, status, message, payload, error_id)
  return setmetatable({ name = name, status = status, message = message, payload = payload, errorId = error_id },
    Error)
end

--- M.is_error(v) -> whether v is such an error table
function M.is_error(v) return getmetatable(v) == Error end

local function status_of(name) return M.ERROR_STATUS[name] or 500 end

-- ---- URLs ---------------------------------------------------------------------------------------

local function escape(s)
  return (gsub(tostring(s), "[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end))
end
M.escape = escape

local function query_string(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = t[k]
    local list = (type(v) == "table" and is_array(v)) and v or { v }
    for _, one in ipairs(list) do
      local s = type(one) == "table" and M.encode(one) or (one == cjson.null and "null" or tostring(one))
      parts[#parts + 1] = escape(k) .. "=" .. escape(s)
    end
  end
  return concat(parts, "&")
end

-- ---- transports ---------------------------------------------------------------------------------

local function in_host()
  local core = package.loaded["pikku.core"]
  return type(core) == "table" and core
end

local function sh_quote(s) return "'" .. gsub(s, "'", "'\\''") .. "'" end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- M.curl_transport{ timeout_s = 30, curl = "curl" } -> request(method, url, headers, body):
--- HTTP through the curl command (io.popen), for scripts run with plain LuaJIT. It blocks the
--- process while curl runs: never use it in a function the host serves.
function M.curl_transport(opts)
  opts = opts or {}
  local curl = opts.curl or "curl"
  local timeout = opts.timeout_s or 30
  return function(method, url, headers, body)
    local hfile, bfile, dfile = os.tmpname(), os.tmpname(), nil
    local args = { curl, "-sS", "-X", method, "--max-time", tostring(timeout), "-D", hfile, "-o", bfile,
                   "-w", "%{http_code}", "-H", "Expect:" }
    for k, v in pairs(headers) do args[#args + 1] = "-H"; args[#args + 1] = k .. ": " .. v end
    if body ~= nil then
      dfile = os.tmpname()
      local f = assert(io.open(dfile, "wb"))
      f:write(body)
      f:close()
      args[#args + 1] = "--data-binary"
      args[#args + 1] = "@" .. dfile
    end
    args[#args + 1] = url
    local quoted = {}
    for i, a in ipairs(args) do quoted[i] = sh_quote(a) end
    local p = io.popen(concat(quoted, " ") .. " 2>&1")
    local out = p and p:read("*a") or ""
    if p then p:close() end
    local head, res_body = read_file(hfile) or "", read_file(bfile) or ""
    os.remove(hfile); os.remove(bfile)
    if dfile then os.remove(dfile) end
    local status = tonumber(match(out, "(%d%d%d)%s*$"))
    if not status or status == 0 then return nil, "curl: " .. gsub(out, "%s+$", "") end
    -- the last header block (after any 100 Continue)
    local blocks = {}
    for block in (head .. "\r\n\r\n"):gmatch("(.-)\r\n\r\n") do if block ~= "" then blocks[#blocks + 1] = block end end
    local res_headers = { ["set-cookie"] = {} }
    for line in (blocks[#blocks] or ""):gmatch("[^\r\n]+") do
      local k, v = match(line, "^([^:]+):%s*(.-)%s*$")
      if k then
        k = lower(k)
        if k == "set-cookie" then res_headers[k][#res_headers[k] + 1] = v
        else res_headers[k] = res_headers[k] and (res_headers[k] .. ", " .. v) or v end
      end
    end
    return status, res_headers, res_body
  end
end

--- M.inprocess_transport() -> request(method, url, headers, body) through the app loaded in this
--- host (pikku test: the app's routes, no socket). Only the path and query of url count.
function M.inprocess_transport()
  return function(method, url, headers, body)
    local path = match(url, "^%a[%w+.-]*://[^/]*(/.*)$") or match(url, "^%a[%w+.-]*://[^/]*$") and "/" or url
    local res = require("pikku.runtime").request { method = method, path = path, headers = headers, body = body }
    local h = {}
    for k, v in pairs(res.headers or {}) do h[lower(k)] = v end
    h["set-cookie"] = res.cookies or {}
    return res.status, h, res.body
  end
end

--- M.default_transport() -> the transport used when none is given: in-process under `pikku test`,
--- curl in plain LuaJIT. Inside `pikku serve` there is none yet (pass opts.request).
function M.default_transport()
  local core = in_host()
  if core then
    if core.test then return M.inprocess_transport() end
    error("client.lua: inside `pikku serve` there is no outbound HTTP transport yet: pass"
      .. " opts.request = function(method, url, headers, body) ... end", 3)
  end
  return M.curl_transport()
end

local sleep_ms
do
  local ok, ffi = pcall(require, "ffi")
  if ok then
    pcall(ffi.cdef, "int poll(void *fds, unsigned long nfds, int timeout);")
    sleep_ms = function(ms) ffi.C.poll(nil, 0, ms) end
  else
    sleep_ms = function(ms) os.execute("sleep " .. (ms / 1000)) end
  end
end
--- M.sleep(ms): waits; inside the host it yields the running call (services.sleep).
function M.sleep(ms)
  local core = in_host()
  if core then return require("pikku.runtime").sleep(ms) end
  return sleep_ms(ms)
end

-- ---- WebSocket over LuaJIT's FFI (plain LuaJIT: ws:// only) -------------------------------------

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2, c3, c4 = floor(n / 262144) % 64, floor(n / 4096) % 64, floor(n / 64) % 64, n % 64
    out[#out + 1] = sub(B64, c1 + 1, c1 + 1) .. sub(B64, c2 + 1, c2 + 1)
      .. (b and sub(B64, c3 + 1, c3 + 1) or "=") .. (c and sub(B64, c4 + 1, c4 + 1) or "=")
  end
  return concat(out)
end

--- M.ffi_websocket{ timeout_ms = 10000 } -> connect(url, headers) -> conn | nil, message: a blocking
--- WebSocket client on the C library's sockets through LuaJIT's FFI, for scripts (not inside
--- `pikku serve`: it would block the worker). conn:send(text), conn:receive(timeout_ms) -> text |
--- nil, "timeout" | nil, "closed", conn:close().
function M.ffi_websocket(opts)
  opts = opts or {}
  local ffi = require "ffi"
  local bit = require "bit"
  local C = ffi.C
  for _, decl in ipairs {
    "typedef struct { int fd; short events; short revents; } pikku_client_pollfd;",
    "typedef struct pikku_client_addrinfo { int ai_flags; int ai_family; int ai_socktype; int ai_protocol;"
      .. " unsigned int ai_addrlen; void *ai_addr; char *ai_canonname; struct pikku_client_addrinfo *ai_next; }"
      .. " pikku_client_addrinfo;",
    "int socket(int domain, int type, int protocol);",
    "int connect(int fd, const void *addr, unsigned int len);",
    "long read(int fd, void *buf, unsigned long n);",
    "long write(int fd, const void *buf, unsigned long n);",
    "int close(int fd);",
    "int getaddrinfo(const char *node, const char *service, const void *hints, pikku_client_addrinfo **res);",
    "void freeaddrinfo(pikku_client_addrinfo *res);",
  } do pcall(ffi.cdef, decl) end
  local poll_fd = ffi.cast("int (*)(pikku_client_pollfd *, unsigned long, int)", C.poll)
  local SOCK_STREAM = 1

  local function wait(fd, events, ms)
    local p = ffi.new("pikku_client_pollfd[1]")
    p[0].fd, p[0].events = fd, events
    local n = poll_fd(p, 1, ms)
    return n > 0
  end

  local Conn = {}
  Conn.__index = Conn

  function Conn:write_all(s)
    local off = 0
    while off < #s do
      if not wait(self.fd, 4, opts.timeout_ms or 10000) then return nil, "timeout" end
      local n = tonumber(C.write(self.fd, ffi.cast("const char *", s) + off, #s - off))
      if n <= 0 then return nil, "closed" end
      off = off + n
    end
    return true
  end

  function Conn:fill(ms)
    if self.closed then return nil, "closed" end
    if not wait(self.fd, 1, ms) then return nil, "timeout" end
    local buf = ffi.new("char[?]", 65536)
    local n = tonumber(C.read(self.fd, buf, 65536))
    if n <= 0 then self.closed = true return nil, "closed" end
    self.buf = self.buf .. ffi.string(buf, n)
    return true
  end

  function Conn:frame(op, payload)
    local len = #payload
    local head = char(0x80 + op)
    if len < 126 then head = head .. char(0x80 + len)
    elseif len < 65536 then head = head .. char(0x80 + 126, floor(len / 256), len % 256)
    else
      head = head .. char(0x80 + 127, 0, 0, 0, 0, floor(len / 16777216) % 256, floor(len / 65536) % 256,
        floor(len / 256) % 256, len % 256)
    end
    local mask = { random(0, 255), random(0, 255), random(0, 255), random(0, 255) }
    local out = {}
    for i = 1, len do out[i] = char(bit.bxor(byte(payload, i), mask[(i - 1) % 4 + 1])) end
    return self:write_all(head .. char(mask[1], mask[2], mask[3], mask[4]) .. concat(out))
  end

  function Conn:send(text) return self:frame(1, text) end

  -- One whole frame from the buffer: fin, opcode, payload; or nil when more bytes are needed.
  local function parse(buf)
    if #buf < 2 then return nil end
    local b1, b2 = byte(buf, 1, 2)
    local len, off = b2 % 128, 3
    if len == 126 then
      if #buf < 4 then return nil end
      len, off = byte(buf, 3) * 256 + byte(buf, 4), 5
    elseif len == 127 then
      if #buf < 10 then return nil end
      len = 0
      for i = 3, 10 do len = len * 256 + byte(buf, i) end
      off = 11
    end
    if #buf < off + len - 1 then return nil end
    return b1 >= 128, b1 % 16, sub(buf, off, off + len - 1), sub(buf, off + len)
  end

  function Conn:receive(ms)
    ms = ms or 1000
    local waited = 0
    local parts = {}
    while true do
      local fin, op, payload, rest = parse(self.buf)
      if fin ~= nil then
        self.buf = rest
        if op == 8 then
          if not self.closed then self:frame(8, sub(payload, 1, 2)) end
          self.closed = true
          C.close(self.fd)
          return nil, "closed"
        elseif op == 9 then
          self:frame(10, payload)
        elseif op == 1 or op == 2 or op == 0 then
          parts[#parts + 1] = payload
          if fin then return concat(parts) end
        end
      else
        local step = 50
        local ok, err = self:fill(step)
        if not ok and err == "closed" then return nil, "closed" end
        if not ok then
          waited = waited + step
          if waited >= ms then return nil, "timeout" end
        end
      end
    end
  end

  function Conn:close(code)
    if self.closed then return end
    code = code or 1000
    self:frame(8, char(floor(code / 256), code % 256))
    self.closed = true
    C.close(self.fd)
  end

  return function(url, headers)
    local host, port, path = match(url, "^ws://([^/:]+):?(%d*)(.*)$")
    if not host then return nil, "ffi_websocket: only ws:// URLs (got " .. url .. ")" end
    if port == "" then port = "80" end
    if path == "" then path = "/" end
    local res = ffi.new("pikku_client_addrinfo *[1]")
    if C.getaddrinfo(host, port, nil, res) ~= 0 then return nil, "cannot resolve " .. host end
    local fd, ai = -1, res[0]
    while ai ~= nil do
      if ai.ai_socktype == SOCK_STREAM then
        fd = C.socket(ai.ai_family, SOCK_STREAM, 0)
        if fd >= 0 and C.connect(fd, ai.ai_addr, ai.ai_addrlen) == 0 then break end
        if fd >= 0 then C.close(fd) fd = -1 end
      end
      ai = ai.ai_next
    end
    C.freeaddrinfo(res[0])
    if fd < 0 then return nil, "cannot connect to " .. host .. ":" .. port end
    local conn = setmetatable({ fd = fd, buf = "", closed = false }, Conn)
    local key = {}
    for i = 1, 16 do key[i] = char(random(0, 255)) end
    local lines = { "GET " .. path .. " HTTP/1.1", "Host: " .. host .. ":" .. port, "Upgrade: websocket",
                    "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " .. base64(concat(key)) }
    for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
    local ok, err = conn:write_all(concat(lines, "\r\n") .. "\r\n\r\n")
    if not ok then C.close(fd) return nil, err end
    while not find(conn.buf, "\r\n\r\n", 1, true) do
      local got, ferr = conn:fill(opts.timeout_ms or 10000)
      if not got then C.close(fd) return nil, "handshake: " .. ferr end
    end
    local head_end = find(conn.buf, "\r\n\r\n", 1, true)
    local head = sub(conn.buf, 1, head_end - 1)
    conn.buf = sub(conn.buf, head_end + 4)
    if not match(head, "^HTTP/1%.1 101") then
      C.close(fd)
      return nil, "the server refused the upgrade: " .. (match(head, "^([^\r\n]*)") or "?")
    end
    return conn
  end
end

--- M.inprocess_websocket() -> connect(url, headers): a channel connection to the app loaded in
--- this host (pikku test), as t.channel makes.
function M.inprocess_websocket()
  return function(url, headers)
    local path = match(url, "^%a[%w+.-]*://[^/]*(/.*)$") or "/"
    local conn = require("pikku.runtime").channel { path = path, headers = headers }
    if conn.closed then return nil, "the channel refused the connection: " .. tostring(conn.closed.code) end
    return {
      send = function(_, text) conn:send(text) return true end,
      receive = function(_, ms)
        local m = conn:receive(ms)
        if m == nil then return nil, conn.closed and "closed" or "timeout" end
        return m
      end,
      close = function(_, code) return conn:close(code) end,
    }
  end
end

--- M.default_websocket() -> the channel transport used when none is given: in-process under
--- `pikku test`, the FFI one in plain LuaJIT.
function M.default_websocket()
  local core = in_host()
  if core then
    if core.test then return M.inprocess_websocket() end
    error("client.lua: inside `pikku serve` there is no outbound WebSocket: pass opts.websocket", 3)
  end
  return M.ffi_websocket()
end

-- ---- the client ---------------------------------------------------------------------------------

local Client = {}
Client.__index = Client
M.Client = Client

--- M.new{ base_url, token?, headers?, request?, websocket?, cookies? } -> a client.
---   base_url: "http://127.0.0.1:8080" (in-process: anything, only paths count);
---   request(method, url, headers, body) -> status, headers (lower-case; "set-cookie" a list), body,
---     or nil, message: the HTTP transport (default: M.default_transport());
---   websocket(url, headers) -> conn | nil, message: the channel transport (default: M.default_websocket());
---   cookies = false: no cookie jar (by default Set-Cookie is kept and sent back, as a browser does).
function M.new(opts)
  opts = opts or {}
  local c = setmetatable({
    base_url = gsub(opts.base_url or "http://in-process", "/+$", ""), token = opts.token,
    headers = opts.headers or {}, transport = opts.request, websocket = opts.websocket,
    jar = opts.cookies ~= false and {} or nil,
  }, Client)
  return c
end

--- client:set_token(token?): the bearer token sent with every later request (nil: none).
function Client:set_token(token) self.token = token end

--- client:cookie_header() -> the Cookie header the jar sends ("" when empty)
function Client:cookie_header()
  if not self.jar then return "" end
  local keys = {}
  for k in pairs(self.jar) do keys[#keys + 1] = k end
  sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. self.jar[k] end
  return concat(parts, "; ")
end

function Client:keep_cookies(list)
  if not self.jar or list == nil then return end
  if type(list) == "string" then list = { list } end
  for _, line in ipairs(list) do
    local k, v, rest = match(line, "^%s*([^=;%s]+)=([^;]*)(.*)$")
    if k then
      local lrest = lower(rest)
      if v == "" or find(lrest, "max%-age=0") or find(lrest, "expires=[^;]*1970") then self.jar[k] = nil
      else self.jar[k] = v end
    end
  end
end

--- client:send(method, path, body?) -> decoded result | nil, err: one request (path with its query).
function Client:send(method, path, body)
  self.transport = self.transport or M.default_transport()
  local headers = { accept = "application/json" }
  for k, v in pairs(self.headers) do headers[k] = v end
  if body ~= nil then headers["content-type"] = "application/json" end
  if self.token then headers.authorization = "Bearer " .. self.token end
  local cookie = self:cookie_header()
  if cookie ~= "" then headers.cookie = cookie end
  local status, res_headers, res_body = self.transport(method, self.base_url .. path, headers, body)
  if status == nil then return nil, M.new_error("NetworkError", 0, tostring(res_headers)) end
  res_headers = res_headers or {}
  self:keep_cookies(res_headers["set-cookie"])
  local value = res_body
  if res_body == "" or status == 204 then value = nil
  elseif find(lower(res_headers["content-type"] or ""), "json", 1, true) then
    local v = cjson.decode(res_body)
    if v ~= nil then value = v end
  end
  if status >= 400 then
    local b = type(value) == "table" and value or {}
    return nil, M.new_error(type(b.name) == "string" and b.name or "Error", status,
      type(b.message) == "string" and b.message or tostring(res_body), b.payload, b.errorId)
  end
  return value
end

--- client:call(op, input?) -> result | nil, err: operation op of M.operations (path params into the
--- path, the rest into the query for GET/HEAD/DELETE, else into a JSON body).
function Client:call(name, input)
  local op = M.operations[name]
  if not op then error("client.lua: no operation " .. tostring(name), 2) end
  local rest = {}
  for k, v in pairs(input or {}) do rest[k] = v end
  local missing
  local path = gsub(op.route, "([:*])([%a_][%w_]*)", function(kind, pname)
    local v = rest[pname]
    rest[pname] = nil
    if v == nil then missing = pname return "" end
    if kind == "*" then return (gsub(tostring(v), "[^/]+", escape)) end
    return escape(v)
  end)
  if missing then error(format("client.lua: %s %s: %s is required", op.method, op.route, missing), 2) end
  if op.body then return self:send(op.method, path, M.encode(rest)) end
  local qs = query_string(rest)
  return self:send(op.method, qs ~= "" and (path .. "?" .. qs) or path)
end

--- client:rpc(name, data?) -> result | nil, err: POST /rpc/<name> with {"data": data}.
function Client:rpc(name, data)
  if not M.rpc_names[name] then error("client.lua: no exposed function " .. tostring(name), 2) end
  return self:send("POST", "/rpc/" .. escape(name), M.encode { data = data or {} })
end

-- ---- channels -----------------------------------------------------------------------------------

local Channel = {}
Channel.__index = Channel
M.Channel = Channel

--- client:channel(name, { params?, query?, headers?, reconnect? = true, timeout_ms? = 10000 }) -> a
--- channel connection (it connects on first use, or with ch:connect()).
function Client:channel(name, opts)
  local spec = M.channels[name]
  if not spec then error("client.lua: no channel " .. tostring(name), 2) end
  opts = opts or {}
  local path = gsub(spec.route, "[:*]([%a_][%w_]*)", function(p)
    local v = (opts.params or {})[p]
    if v == nil then error(format("client.lua: channel %s: params.%s is required", name, p), 3) end
    return escape(v)
  end)
  local qs = query_string(opts.query or {})
  local headers = {}
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  if self.token and not headers.authorization then headers.authorization = "Bearer " .. self.token end
  local cookie = self:cookie_header()
  if cookie ~= "" and not headers.cookie then headers.cookie = cookie end
  return setmetatable({
    spec = spec, url = gsub(self.base_url, "^http", "ws") .. path .. (qs ~= "" and ("?" .. qs) or ""),
    headers = headers, connect_fn = self.websocket, reconnect = opts.reconnect ~= false,
    timeout_ms = opts.timeout_ms or 10000, seq = 0, topics = {}, messages = {}, errors = {}, on_open = {},
    attempt = 0,
  }, Channel)
end

--- ch:on_open(fn): fn(ch, reconnected) runs after every (re)connect, before topics are subscribed
--- again: the place to authenticate the connection.
function Channel:on_open(fn) self.on_open[#self.on_open + 1] = fn end

--- ch:connect() -> true | nil, err (retries with backoff, 250 ms doubling up to 5 s, 5 tries).
function Channel:connect()
  if self.conn and not self.conn.closed then return true end
  self.connect_fn = self.connect_fn or M.default_websocket()
  local last
  for try = 1, 5 do
    local conn, err = self.connect_fn(self.url, self.headers)
    if conn then
      local reconnected = self.opened == true
      self.conn, self.opened, self.attempt = conn, true, 0
      for _, fn in ipairs(self.on_open) do fn(self, reconnected) end
      if reconnected and self.spec.subscribe then
        for topic in pairs(self.topics) do self:request(self.spec.subscribe, { topic = topic }) end
      end
      return true
    end
    last = err
    if not self.reconnect then break end
    M.sleep(math.min(5000, 250 * 2 ^ (try - 1)))
  end
  return nil, M.new_error("ConnectionClosed", 0, "cannot connect to " .. self.url .. ": " .. tostring(last))
end

-- One message from the server, decoded; nil, "timeout" | "closed".
function Channel:next_message(ms)
  local m, err = self.conn:receive(ms)
  if m == nil then
    if err == "closed" then self.conn = nil end
    return nil, err
  end
  if type(m) == "string" then m = cjson.decode(m) or m end
  return m
end

-- Hands a message that answers no request to the topic callbacks, or keeps it in ch.messages.
function Channel:dispatch(m)
  if type(m) == "table" then
    if type(m.error) == "string" and type(m.errorName) == "string" then
      self.errors[#self.errors + 1] = M.new_error(m.errorName, status_of(m.errorName), m.error, m.payload, m.errorId)
      return
    end
    local cbs = type(m.topic) == "string" and self.topics[m.topic]
    if cbs then
      for _, cb in ipairs(cbs) do cb(m.data, m) end
      return
    end
  end
  self.messages[#self.messages + 1] = m
end

--- ch:request(value, data?) -> reply | nil, err: sends {[key] = value, ...data, id} and waits for the
--- reply of the same id (an error frame is the err); what else arrives meanwhile is dispatched.
function Channel:request(value, data)
  local ok, cerr = self:connect()
  if not ok then return nil, cerr end
  local msg = {}
  for k, v in pairs(data or {}) do msg[k] = v end
  local id
  if self.spec.keeps_id[value] and msg.id ~= nil then id = tostring(msg.id)
  else
    self.seq = self.seq + 1
    id = "l" .. self.seq
    msg.id = id
  end
  msg[self.spec.key] = value
  local sent, serr = self.conn:send(M.encode(msg))
  if not sent then return nil, M.new_error("ConnectionClosed", 0, "send failed: " .. tostring(serr)) end
  local waited = 0
  while waited < self.timeout_ms do
    local m, err = self:next_message(100)
    if m == nil then
      if err == "closed" then return nil, M.new_error("ConnectionClosed", 0, "the channel connection closed") end
      waited = waited + 100
    elseif type(m) == "table" and m.id ~= nil and tostring(m.id) == id then
      if type(m.error) == "string" and type(m.errorName) == "string" then
        return nil, M.new_error(m.errorName, status_of(m.errorName), m.error, m.payload, m.errorId)
      end
      return m
    else
      self:dispatch(m)
    end
  end
  return nil, M.new_error("Timeout", 0, format('no reply to %s "%s" within %d ms', self.spec.key, value, self.timeout_ms))
end

--- ch:subscribe(topic, callback) -> true | nil, err: callback(data, message) for every message
--- published to topic, run by ch:poll (and while waiting for replies). Sends the channel's
--- subscribe handler when it has one.
function Channel:subscribe(topic, cb)
  local list = self.topics[topic]
  if not list then
    list = {}
    self.topics[topic] = list
    if self.spec.subscribe then
      local _, err = self:request(self.spec.subscribe, { topic = topic })
      if err then self.topics[topic] = nil return nil, err end
    end
  end
  list[#list + 1] = cb
  return true
end

--- ch:unsubscribe(topic) -> true | nil, err
function Channel:unsubscribe(topic)
  if not self.topics[topic] then return true end
  self.topics[topic] = nil
  if self.spec.unsubscribe and self.conn then
    local _, err = self:request(self.spec.unsubscribe, { topic = topic })
    if err then return nil, err end
  end
  return true
end

--- ch:poll(ms?) -> how many messages arrived: waits up to ms (default 1000) for messages and
--- dispatches them (topic callbacks, ch.messages, ch.errors); reconnects a dropped connection.
function Channel:poll(ms)
  ms = ms or 1000
  if not self.conn then
    if not self.reconnect and self.opened then return 0 end
    local ok = self:connect()
    if not ok then return 0 end
  end
  local n, waited = 0, 0
  while waited < ms do
    local m, err = self:next_message(n == 0 and 50 or 0)
    if m ~= nil then
      n = n + 1
      self:dispatch(m)
    elseif err == "closed" then
      if self.reconnect then self:connect() end
      break
    else
      if n > 0 then break end
      waited = waited + 50
    end
  end
  return n
end

--- ch:close(code?)
function Channel:close(code)
  self.reconnect = false
  if self.conn then self.conn:close(code) end
  self.conn = nil
end
]==]
