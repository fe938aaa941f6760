-- wire.http:stream and :send_file: a response body written while the function runs, or a file sent by the core.
local M = {}

local core = require "pikku.core"
local errors = require "pikku.errors"
local http = require "pikku.http"
local stream_c = require "pikku.stream_c"
local serve_c = require "pikku.serve_c"
local respond = require("pikku.request_handle").respond

local type, tostring, error, select, setmetatable = type, tostring, error, select, setmetatable
local concat = table.concat
local sub, gsub, format = string.sub, string.gsub, string.format

local OCTETS = "application/octet-stream"

-- A file name found by the beneath rule or not there at all: ENOENT, ENOTDIR, EXDEV (beneath: it
-- would leave the directory), ELOOP (a symlink not followed), EISDIR, EACCES.
local NOT_FOUND = { [2] = true, [20] = true, [18] = true, [40] = true, [21] = true, [13] = true }

local outbound_wait
local function wait(start, cancel)
  if outbound_wait == nil then outbound_wait = require("pikku.outbound").wait end
  return outbound_wait("wire.http:stream", start, cancel)
end

-- ---- the writer ------------------------------------------------------------------------------

local Writer = {}
Writer.__index = Writer

--- writer:write(chunk) -> true, or nil, "closed" when the client is gone (or the stream was closed).
--- Waits (the call yields) while more than stream_c.HIGH_WATER bytes wait for the client.
function Writer:send(chunk)
  if type(chunk) == "number" then chunk = tostring(chunk) end
  if type(chunk) ~= "string" then
    error("wire.http:stream: write(chunk): chunk must be a string, got " .. type(chunk), 2)
  end
  if self.closed then return nil, "closed" end
  if chunk == "" then return true end
  local handle = self.handle
  if type(handle) == "table" then   -- an in-process request (pikku test): the body is kept
    local parts = self.parts
    parts[#parts + 1] = chunk
    return true
  end
  local r = stream_c.write(handle, chunk)
  if r == nil then
    self.closed = true
    return nil, "closed"
  end
  if r == "wait" then
    local ok, kind = wait(function(token)
      local waiting = stream_c.wait(handle, token)
      if waiting == nil then return nil, "closed" end
      if not waiting then return nil, "ready" end
    end, function() stream_c.unwait(handle) end)
    if not ok and kind ~= "ready" then
      self.closed = true
      return nil, "closed"
    end
  end
  return true
end

--- writer:close(): ends the body. Further writes return nil, "closed".
function Writer:finish()
  if self.closed then return end
  self.closed = true
  local handle = self.handle
  if type(handle) == "table" then
    respond(handle, self.status, concat(self.parts), self.ctype, self.extra, nil)
    return
  end
  stream_c.finish(handle, false)
end

-- The runtime's finish: a stream the function did not close is closed; one whose function failed
-- is cut (the client must not take a partial body for a whole one).
function Writer:_finish(ok)
  if self.closed then return end
  if ok or type(self.handle) == "table" then return self:finish() end
  self.closed = true
  stream_c.finish(self.handle, true)
end

--- open(h, content_type?) -> a writer; the response head goes out with the status and headers set so far.
function M.open(h, content_type)
  local ctype = content_type or h._ctype or OCTETS
  local status = h._status or 200
  if status == 204 or status == 205 or status == 304 then
    error("wire.http:stream: status " .. status .. " has no body", 3)
  end
  local extra = http.extra_lines(h)
  local handle = h.handle
  local w = setmetatable({ handle = handle, status = status, ctype = ctype, extra = extra, parts = {} }, Writer)
  -- write and close work called as w:write(x) and as w.write(x)
  w.write = function(a, b)
    if a == w then return w:send(b) end
    return w:send(a)
  end
  w.close = function() return w:finish() end
  if type(handle) ~= "table" and not stream_c.begin(handle, status, ctype, extra) then
    w.closed = true   -- the client is gone already
  end
  h._stream, h._answered, h._sent, h._done = w, true, true, true
  return w
end

-- ---- files -----------------------------------------------------------------------------------

local function app_path(p)
  if sub(p, 1, 1) == "/" then return p end
  return (core.app_dir or ".") .. "/" .. p
end

-- Content-Disposition: attachment; filename="..."; filename*=UTF-8''... (RFC 6266)
local function disposition(name)
  name = tostring(name)
  local ascii = gsub(gsub(name, '[%c"\\]', "_"), "[\128-\255]", "_")
  local encoded = gsub(name, "[^%w%-%.!~*'()_]", function(c) return format("%%%02X", c:byte()) end)
  return format("Content-Disposition: attachment; filename=\"%s\"; filename*=UTF-8''%s\r\n", ascii, encoded)
end

--- send_file(h, path, opts): the request is answered with the file (conditional requests and a
--- byte range as for a static route); raises NotFound when there is no such file (beneath opts.dir).
function M.send_file(h, path, opts)
  local dir = opts.dir and app_path(opts.dir) or nil
  local file = dir and path or app_path(path)
  local extra = http.extra_lines(h)
  if opts.download then extra = (extra or "") .. disposition(opts.download) end
  local handle = h.handle
  if type(handle) == "table" then
    local body, ctype_or_errno = serve_c.read_file(file, dir)
    if body == nil then
      if NOT_FOUND[ctype_or_errno] then error(errors.NotFound("file not found: " .. path), 3) end
      error("wire.http:send_file: " .. path .. ": " .. tostring(select(3, serve_c.read_file(file, dir))), 3)
    end
    h._answered, h._sent, h._done = true, true, true
    respond(handle, h._status or 200, body, opts.content_type or ctype_or_errno, extra, nil)
    return true
  end
  local status, errno, msg = stream_c.send_file(handle, file, dir, opts.content_type, extra)
  if status == nil then
    if errno == 0 then return nil end   -- the request is gone
    if NOT_FOUND[errno] then error(errors.NotFound("file not found: " .. path), 3) end
    error("wire.http:send_file: " .. path .. ": " .. tostring(msg), 3)
  end
  h._answered, h._sent, h._done = true, true, true
  return true
end

return M
