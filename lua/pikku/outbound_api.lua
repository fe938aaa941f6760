-- The outbound clients of require "pikku": pikku.http (+ request/get/post/json), pikku.socket, pikku.redis, pikku.pg.
local M = {}

local setmetatable, require = setmetatable, require

-- pikku.http: the outbound client's calls, and the existing helpers of pikku.http (unescape,
-- parse_pairs, ...) through __index, so the module is not changed.
local client = require "pikku.http_client"
M.http = setmetatable({
  request = client.request, get = client.get, post = client.post, json = client.json,
  configure = client.configure, defaults = client.defaults,
}, { __index = require "pikku.http" })

-- the others load on first use
setmetatable(M, { __index = function(t, k)
  local name = k == "socket" and "pikku.socket" or k == "redis" and "pikku.redis" or k == "pg" and "pikku.pg"
  if name == nil then return nil end
  local v = require(name)
  t[k] = v
  return v
end })

return M
