-- The per-call wire.http object and the HTTP parsing helpers (percent-decoding, query, form, cookies).
local M = {}

local core = require "pikku.core"
local json_array = require("pikku.json").array

local type, tostring, tonumber, setmetatable, rawget, rawset, error, pairs =
  type, tostring, tonumber, setmetatable, rawget, rawset, error, pairs
local floor = math.floor
local find, sub, gsub, char, lower, gmatch, match, format =
  string.find, string.sub, string.gsub, string.char, string.lower, string.gmatch, string.match, string.format
local concat = table.concat
-- table.nkeys: OpenResty's LuaJIT (the one Debian packages); counted with next elsewhere
local has_nkeys, nkeys = pcall(require, "table.nkeys")
if not has_nkeys then
  nkeys = function(t)
    local n = 0
    for _ in next, t do n = n + 1 end
    return n
  end
end
local core_header, core_headers = require("pikku.host").header, core.headers

-- ---- decoding -------------------------------------------------------------------------------

local function hex_to_char(h)
  return char(tonumber(h, 16))
end

--- Percent-decodes s (an invalid escape such as "%zz" is kept as it is).
local function unescape(s)
  if find(s, "%", 1, true) then
    s = gsub(s, "%%(%x%x)", hex_to_char)
  end
  return s
end
M.unescape = unescape

--- Decodes a query or form component: "+" is a space, then percent-decoding.
local function unescape_form(s)
  if find(s, "+", 1, true) then
    s = gsub(s, "+", " ")
  end
  return unescape(s)
end
M.unescape_form = unescape_form

-- "a,b%2Cc" -> appends "a", "b,c" to list: split on the commas of the raw text, then decoded, so
-- an encoded comma stays inside its item. "" adds nothing.
local function split_into(list, raw)
  if raw == "" then return end
  for item in gmatch(raw .. ",", "([^,]*),") do list[#list + 1] = unescape_form(item) end
end

--- Parses "a=1&b=&c&a=2" into t: { a = {"1", "2"}, b = "", c = "" }. Returns t.
--- split (optional): { name = true } for keys whose values are comma lists (array-typed in the
--- input schema): each becomes an array (marked, so an empty one stays []), "?tags=a,b&tags=c" ->
--- tags = {"a", "b", "c"}.
local function parse_pairs(s, t, split)
  for pair in gmatch(s, "[^&]+") do
    local eq = find(pair, "=", 1, true)
    local k, v
    if eq then
      k = unescape_form(sub(pair, 1, eq - 1))
      if split and split[k] then
        local list = t[k]
        if type(list) ~= "table" then
          list = json_array()
          t[k] = list
        end
        split_into(list, sub(pair, eq + 1))
        goto continue
      end
      v = unescape_form(sub(pair, eq + 1))
    else
      k, v = unescape_form(pair), ""
    end
    if k ~= "" then
      local old = t[k]
      if old == nil then
        t[k] = v
      elseif type(old) == "table" then
        old[#old + 1] = v
      else
        t[k] = { old, v }
      end
    end
    ::continue::
  end
  return t
end
M.parse_pairs = parse_pairs

--- Parses a Cookie header into { name = value }; the first of a repeated name wins.
local function parse_cookies(s)
  local t = {}
  if not s then return t end
  for pair in gmatch(s, "[^;]+") do
    local k, v = match(pair, "^%s*([^=]-)%s*=%s*(.-)%s*$")
    if k and k ~= "" and t[k] == nil then
      if sub(v, 1, 1) == '"' and sub(v, -1) == '"' and #v >= 2 then
        v = sub(v, 2, -2)
      end
      t[k] = v
    end
  end
  return t
end
M.parse_cookies = parse_cookies

-- ---- checks for what goes into response headers ----------------------------------------------

-- RFC 7230 token characters
local function is_token(s)
  return type(s) == "string" and s ~= "" and not find(s, "[^%w!#$%%&'*+%-.^_`|~]")
end

-- RFC 9110 section 5.5: a field value holds no control character but HTAB (CR, LF and NUL would
-- split or cut the response; VT, SOH, ESC, DEL and the others confuse what reads it)
local function check_value(what, v, what2)
  if find(v, "[%z\1-\8\10-\31\127]") then
    error(what .. (what2 or "") .. " must not contain a control character (CR, LF, NUL, DEL or"
      .. " any other below 0x20 but tab)", 3)
  end
end

-- RFC 6265 cookie-octet: visible ASCII except DQUOTE , ; \
local function check_cookie_value(v)
  if find(v, '[%c%s",;\\\128-\255]') then
    error("wire.http:set_cookie: the value contains a character not allowed in a cookie"
      .. " (space, quote, comma, semicolon, backslash or a control or non-ASCII byte);"
      .. " percent-encode or base64 it first", 3)
  end
end

-- ---- the per-call object ----------------------------------------------------------------------

-- Methods live in Http; fields that cost something to build are made on first access by LAZY.
local Http = {}
local LAZY = {}
local HttpMT = {
  __index = function(h, k)
    local m = Http[k]
    if m ~= nil then return m end
    local make = LAZY[k]
    if make then
      local v = make(h)
      rawset(h, k, v)
      return v
    end
    return nil
  end,
}
M.Http = Http

-- The objects of ended calls that took no wire, each ready for the next request of its shape
-- (M.release): a new request takes one instead of a new table.
local spare, spare_bare = nil, nil

--- M.new(handle, method, raw_path, raw_query, body, params) -> the wire.http object.
--- params is the table of decoded route params, or nil when the route has none.
function M.new(handle, method, path, query, body, params)
  local h = spare
  if h then
    spare = nil
    h.handle, h.method, h.body, h._raw_path, h._raw_query, h._params = handle, method, body, path, query, params
    return h
  end
  -- not "return setmetatable(...)": a tail call of a builtin leaves the frame a trace began in,
  -- and LuaJIT then gives up compiling the request path ("leaving loop in root trace")
  -- _wire, _entry, _done, _guard and _started (every call sets them; false until then), and
  -- _valid and _lines (most calls with a body or a header set them) are declared here so that
  -- the table is made once at a size that also holds the few others a call may set (_status,
  -- ...): adding keys past its size would rehash it during the request, and each new key costs
  -- a look-up that misses (the 13 keys fit the same 16 slots as 9). The runtime reads the others
  -- with rawget (an absent one would go through HttpMT's __index).
  h = setmetatable({
    handle = handle, method = method, body = body,
    _raw_path = path, _raw_query = query, _params = params,
    _wire = false, _entry = false, _done = false, _guard = false, _started = false,
    _valid = false, _lines = false,
  }, HttpMT)
  return h
end

--- M.new_bare(handle, method, path) -> the wire.http object of a request with no query, body or
--- route params whose function takes no wire (a `fast` plan that declares fewer than 3 parameters):
--- only the keys such a call reads or sets (8: the table has 8 slots instead of 16, half the bytes
--- to copy, sweep and free per request). A call that sets more (CORS lines, a header or a session
--- through a wire a service made later) grows it, which costs only that call; absent keys read
--- as nil (through HttpMT's __index, as for new's).
function M.new_bare(handle, method, path)
  local h = spare_bare
  if h then
    spare_bare = nil
    h.handle, h.method, h._raw_path = handle, method, path
    return h
  end
  h = setmetatable({
    handle = handle, method = method, _raw_path = path,
    _wire = false, _entry = false, _done = false, _guard = false, _started = false,
  }, HttpMT)
  return h
end

-- The keys of a released object: new_bare's 8; new's 13 less body, _raw_query and _params (nil
-- once released). One more means the call set something of its own (an errorId, a lazily made
-- field such as `path`): that object is left to the collector.
local BARE_KEYS, KEYS = 8, 10

--- M.release(h): the call of h has ended (answered, no longer waiting) and its function took no
--- wire, nor did any service make one for it (h._wire is still false). The app's code never saw
--- h then, and the runtime keeps nothing of it: it becomes the spare of its shape, reset, unless
--- the call added keys to it. A GET /hello then makes one table instead of two, and its collector
--- work goes down by as much (docs/benchmarks.md, "Stop 19").
function M.release(h)
  if h._wire ~= false or not h._done then return end
  if rawget(h, "_cors") ~= nil then h._cors = nil end   -- the next request's are set, if any
  local full = rawget(h, "_lines") ~= nil                -- new's shape (new_bare's has no _lines)
  if full then h.body, h._raw_query, h._params, h._valid, h._lines = nil, nil, nil, false, false end
  if nkeys(h) ~= (full and KEYS or BARE_KEYS) then return end
  h._entry, h._done, h._guard, h._started = false, false, false, false
  if full then spare = h else spare_bare = h end
end

function LAZY.path(h)
  return unescape(h._raw_path)
end

function LAZY.query(h)
  local q = h._raw_query
  if q == nil or q == "" then return {} end
  return parse_pairs(q, {})
end

function LAZY.params(h)
  return h._params or {}
end

-- The client's address and port (the TCP peer: behind a proxy, the proxy's; read X-Forwarded-For
-- yourself if you trust it). An in-process request (pikku test) is 127.0.0.1 unless it says.
local function peer(h)
  local handle = h.handle
  if type(handle) == "table" then return handle.remote_addr or "127.0.0.1", handle.remote_port or 0 end
  local ip, port = core.peer(handle)
  return ip, port
end

function LAZY.remote_addr(h)
  local ip, port = peer(h)
  rawset(h, "remote_port", port)
  return ip
end

function LAZY.remote_port(h)
  local ip, port = peer(h)
  rawset(h, "remote_addr", ip)
  return port
end

-- wire.http.header("x") (a dot instead of a colon) would fail deep inside with a puzzling message.
local function colon_needed(name)
  error("wire.http." .. name .. ": call it with a colon: wire.http:" .. name .. "(...)", 3)
end

-- A handle is the core's request number, or a table (an in-process request made by
-- runtime.request) that answers header lookups itself.

--- wire.http:header(name) -> value or nil (case-insensitive; repeats joined with ", ")
function Http:header(name)
  if type(self) ~= "table" then colon_needed("header") end
  local handle = self.handle
  if type(handle) == "table" then return handle:header(name) end
  return core_header(handle, name)
end

--- wire.http:headers() -> { lower-case name = value }
function Http:headers()
  if type(self) ~= "table" then colon_needed("headers") end
  local all = self._headers
  if all == nil then
    local handle = self.handle
    if type(handle) == "table" then
      all = handle:headers()
    else
      all = core_headers(handle) or {}
    end
    self._headers = all
  end
  return all
end

--- wire.http:cookie(name) -> value or nil
function Http:cookie(name)
  if type(self) ~= "table" then colon_needed("cookie") end
  local c = self._cookies
  if c == nil then
    c = parse_cookies(self:header("cookie"))
    self._cookies = c
  end
  return c[name]
end

--- wire.http:set_status(code)
function Http:set_status(code)
  if type(self) ~= "table" then colon_needed("set_status") end
  if type(code) ~= "number" or code ~= floor(code) or code < 200 or code > 599 then
    error("wire.http:set_status: status must be an integer from 200 to 599 (a 1xx is not a final"
      .. " response), got " .. tostring(code), 2)
  end
  self._status = code
end

-- h._lines: false, one header line (a string: most calls set one), or a list of them
local function add_line(h, line)
  local lines = rawget(h, "_lines")
  if not lines then
    h._lines = line
  elseif type(lines) == "string" then
    h._lines = { lines, line }
  else
    lines[#lines + 1] = line
  end
end

--- wire.http:set_header(name, value): adds a response header (Content-Type replaces the type).
-- Header names seen valid, with their lower-case form: most apps set a handful of names on every
-- call, so each is checked once (bounded, so that names built per request cannot grow it forever).
local header_names, header_names_n = {}, 0
-- and values seen valid (no control character), the same way
local header_values, header_values_n = {}, 0
-- headers the core writes itself (once each): a second one would make the response ambiguous
local SERVER_SET = { ["content-length"] = true, ["transfer-encoding"] = true, connection = true,
                     date = true, server = true }

function Http:set_header(name, value)
  if type(self) ~= "table" then colon_needed("set_header") end
  local lname = header_names[name]
  if lname == nil then
    if not is_token(name) then
      error("wire.http:set_header: invalid header name " .. format("%q", tostring(name)), 2)
    end
    lname = lower(name)
    if header_names_n < 256 then
      header_names[name] = lname
      header_names_n = header_names_n + 1
    end
  end
  if type(value) == "number" then
    value = tostring(value)
  elseif type(value) ~= "string" then
    error("wire.http:set_header: value of " .. name .. " must be a string, got " .. type(value), 2)
  end
  if not header_values[value] then
    check_value("wire.http:set_header: the value of ", value, name)
    if header_values_n < 256 then
      header_values[value] = true
      header_values_n = header_values_n + 1
    end
  end
  if lname == "content-type" then
    self._ctype = value
    return
  end
  if SERVER_SET[lname] then
    error("wire.http:set_header: " .. name .. " is set by the server", 2)
  end
  add_line(self, name .. ": " .. value .. "\r\n")
end

local SAME_SITE = { strict = "Strict", lax = "Lax", none = "None" }

local function cookie_line(name, value, opts)
  local parts = { name .. "=" .. value }
  local path = opts.path
  if path == nil then path = "/" end
  if path then
    check_value("wire.http:set_cookie: path", path)
    if find(path, ";", 1, true) then error("wire.http:set_cookie: path must not contain ';'", 3) end
    parts[#parts + 1] = "Path=" .. path
  end
  if opts.domain then
    check_value("wire.http:set_cookie: domain", opts.domain)
    if find(opts.domain, ";", 1, true) then error("wire.http:set_cookie: domain must not contain ';'", 3) end
    parts[#parts + 1] = "Domain=" .. opts.domain
  end
  if opts.max_age ~= nil then
    local n = tonumber(opts.max_age)
    if not n or n ~= n then error("wire.http:set_cookie: max_age must be a number of seconds", 3) end
    -- RFC 6265: larger is as good as 2^31; %d must not overflow
    if n > 2 ^ 31 then n = 2 ^ 31 elseif n < 0 then n = 0 end
    parts[#parts + 1] = "Max-Age=" .. format("%d", n)
  end
  if opts.expires then
    check_value("wire.http:set_cookie: expires", opts.expires)
    if find(opts.expires, ";", 1, true) then error("wire.http:set_cookie: expires must not contain ';'", 3) end
    parts[#parts + 1] = "Expires=" .. opts.expires
  end
  if opts.secure then parts[#parts + 1] = "Secure" end
  if opts.http_only then parts[#parts + 1] = "HttpOnly" end
  if opts.same_site then
    local s = SAME_SITE[lower(tostring(opts.same_site))]
    if not s then error("wire.http:set_cookie: same_site must be \"Strict\", \"Lax\" or \"None\"", 3) end
    parts[#parts + 1] = "SameSite=" .. s
  end
  return "Set-Cookie: " .. concat(parts, "; ") .. "\r\n"
end

-- Sets the session cookie's Set-Cookie line (built by the pipeline; value is the header's value).
-- One per response: a later set_session or clear_session in the same call replaces it.
function Http:_set_session_cookie(value)
  check_value("Set-Cookie", value)
  self._session_line = "Set-Cookie: " .. value .. "\r\n"
end

--- wire.http:set_cookie(name, value, opts?): opts path (default "/", false for none), domain,
--- max_age (seconds), expires (an HTTP date string), http_only, secure, same_site.
function Http:set_cookie(name, value, opts)
  if type(self) ~= "table" then colon_needed("set_cookie") end
  if not is_token(name) then
    error("wire.http:set_cookie: invalid cookie name " .. format("%q", tostring(name)), 2)
  end
  if type(value) == "number" then value = tostring(value) end
  if type(value) ~= "string" then
    error("wire.http:set_cookie: value must be a string, got " .. type(value), 2)
  end
  check_cookie_value(value)
  add_line(self, cookie_line(name, value, opts or {}))
end

--- wire.http:clear_cookie(name, opts?): tells the client to drop the cookie (same path/domain).
function Http:clear_cookie(name, opts)
  if type(self) ~= "table" then colon_needed("clear_cookie") end
  if not is_token(name) then
    error("wire.http:clear_cookie: invalid cookie name " .. format("%q", tostring(name)), 2)
  end
  opts = opts or {}
  add_line(self, cookie_line(name, "", {
    path = opts.path, domain = opts.domain, max_age = 0,
    expires = "Thu, 01 Jan 1970 00:00:00 GMT",
    secure = opts.secure, http_only = opts.http_only, same_site = opts.same_site,
  }))
end

-- ---- answering before the function returns ----------------------------------------------------

--- Set by the runtime: answers h's call now with what send or redirect chose; the function goes on.
M.answer_now = nil

local function answered_already(what)
  error("wire.http:" .. what .. ": the response was already sent (send and redirect answer at once)", 3)
end

-- The response is this body (nil: none) and type, sent at once; what the function returns is not.
local function answer(self, body, content_type)
  self._sent = true
  self._sent_body = body
  self._sent_type = content_type
  local now = M.answer_now
  if now then
    self._answered = true
    now(self)
  end
end

--- wire.http:redirect(url, status?): status defaults to 302; the response body is empty.
function Http:redirect(url, status)
  if type(self) ~= "table" then colon_needed("redirect") end
  if type(url) ~= "string" or url == "" then
    error("wire.http:redirect: url must be a non-empty string", 2)
  end
  check_value("wire.http:redirect: url", url)
  status = status or 302
  if type(status) ~= "number" or status < 300 or status > 399 then
    error("wire.http:redirect: status must be a 3xx code, got " .. tostring(status), 2)
  end
  if self._answered then answered_already("redirect") end
  self._status = status
  add_line(self, "Location: " .. url .. "\r\n")
  answer(self, nil, nil)
end

--- wire.http:send(body, content_type?): responds with these bytes instead of the JSON result.
function Http:send(body, content_type)
  if type(self) ~= "table" then colon_needed("send") end
  if body ~= nil and type(body) ~= "string" then
    error("wire.http:send: body must be a string or nil, got " .. type(body), 2)
  end
  if content_type ~= nil then
    if type(content_type) ~= "string" then
      error("wire.http:send: content_type must be a string", 2)
    end
    check_value("wire.http:send: content_type", content_type)
  end
  if self._answered then answered_already("send") end
  answer(self, body, content_type)
end

--- Set by the runtime: the response's extra header lines of h (the function's, its session cookie, CORS).
M.extra_lines = nil

--- wire.http:stream(content_type?) -> a writer: writer:write(chunk) sends a chunk (chunked on
--- HTTP/1.1, close-delimited on HTTP/1.0), waiting while the client is slow; writer:close() ends
--- the body (the runtime closes it when the function returns). See pikku.http_stream.
function Http:stream(content_type)
  if type(self) ~= "table" then colon_needed("stream") end
  if content_type ~= nil then
    if type(content_type) ~= "string" then error("wire.http:stream: content_type must be a string", 2) end
    check_value("wire.http:stream: content_type", content_type)
  end
  if self._answered then answered_already("stream") end
  return require("pikku.http_stream").open(self, content_type)
end

--- wire.http:send_file(path, opts?) answers at once with a file: opts.dir (relative to the app)
--- keeps path beneath that directory, whatever path holds; opts.content_type, opts.download
--- (a file name: Content-Disposition: attachment). See pikku.http_stream.
function Http:send_file(path, opts)
  if type(self) ~= "table" then colon_needed("send_file") end
  if type(path) ~= "string" or path == "" or find(path, "%z") then
    error("wire.http:send_file: path must be a non-empty string without NUL", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then error("wire.http:send_file: opts must be a table", 2) end
  opts = opts or {}
  if opts.content_type ~= nil then check_value("wire.http:send_file: content_type", tostring(opts.content_type)) end
  if self._answered then answered_already("send_file") end
  return require("pikku.http_stream").send_file(self, path, opts)
end

--- The extra header lines set by the function, as one string, or nil.
function M.header_lines(h)
  local lines, session_line = rawget(h, "_lines"), rawget(h, "_session_line")
  if not lines then return session_line end
  if type(lines) == "table" then lines = concat(lines) end
  if session_line then return lines .. session_line end
  return lines
end

--- Header lookups of an in-process request (pikku test), shared by the runtime's and the
--- channels' stand-ins for a C handle: `hdrs` is a table of lower-case names.
M.fake_request = {
  header = function(self, name) return self.hdrs[lower(name)] end,
  headers = function(self)
    local t = {}
    for k, v in pairs(self.hdrs) do t[k] = v end
    return t
  end,
}

return M
