-- The todos stats cached in Redis when REDIS_URL is set (5 s); a create or a delete drops them.
local pikku = require "pikku"
local runtime = require "pikku.runtime"
local json = require "pikku.json"

local M = {}
local TTL = 5

local redis   -- one client (pool) per Lua state, made on first use

--- wrap(store) -> store, or a store whose stats() go through Redis (same calls otherwise)
function M.wrap(store)
  local url = os.getenv("REDIS_URL")
  if not url then return store end
  local key = "todos:stats:" .. tostring(store.schema or store.path or "default")
  local w = setmetatable({}, { __index = function(_, k)
    local v = store[k]
    if type(v) ~= "function" then return v end
    return function(_, ...) return v(store, ...) end
  end })
  local function client()
    redis = redis or pikku.redis.connect(url, { timeout_ms = 1000 })
    return redis
  end
  function w.stats()
    if not runtime.in_call() then return store:stats() end
    local cached = client():get(key)
    if cached then return json.decode(cached) end
    local s = store:stats()
    client():setex(key, TTL, json.encode(s))
    return s
  end
  local function dropping(name)
    w[name] = function(_, ...)
      local r = store[name](store, ...)
      if runtime.in_call() then client():del(key) end
      return r
    end
  end
  dropping("create")
  dropping("delete")
  dropping("init")
  w.unwrapped = store
  return w
end

return M
